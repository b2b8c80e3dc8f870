//! What a session needs to look like PostgreSQL to its clients: the `pg_catalog` schema and the
//! system functions they call (`version()`, `current_setting()`, `session_user`, ...).
//!
//! The static `pg_catalog` tables (types, functions, operators) and the tables built from the
//! schema (`pg_class`, `pg_attribute`, `pg_namespace`) come from `datafusion-pg-catalog`; what
//! only the warehouse knows is added here.

use std::ops::ControlFlow;
use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, Int64Array, ListArray, RecordBatch, StringBuilder, StructArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, Fields, Int64Type, Schema, SchemaRef};
use datafusion::catalog::information_schema::InformationSchemaProvider;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{
    AccessExpr, ArrayElemTypeDef, BinaryOperator, CastKind, DataType as SQLDataType, Expr, Function, FunctionArg,
    FunctionArgExpr, FunctionArgumentList, FunctionArguments, GroupByExpr, Ident, ObjectName, Query, SelectItem,
    SetExpr, Statement as SQLStatement, Subscript, TableAlias, TableFactor, Value, ValueWithSpan, VisitMut, VisitorMut,
    visit_expressions_mut, visit_relations,
};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion::sql::sqlparser::parser::Parser;
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use futures::StreamExt;
use starhouse_engine::{CATALOG_NAME, Session};

use crate::commands::{SERVER_VERSION, Settings};
use crate::information_schema::InformationSchema;
use crate::pg_catalog::{self, WarehouseCatalog};

/// What `version()` answers: a PostgreSQL version first, as clients parse it.
pub(crate) fn version_string() -> String {
    format!(
        "PostgreSQL {SERVER_VERSION} (Starhouse {}) on {}-unknown-linux-gnu, compiled by rustc, 64-bit",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::ARCH
    )
}

fn constant(name: &str, value: String) -> ScalarUDF {
    create_udf(
        name,
        vec![],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |_: &[ColumnarValue]| Ok(ColumnarValue::Scalar(ScalarValue::Utf8(Some(value.clone()))))),
    )
}

/// `current_setting(name)`: the session's setting, or an error for one that does not exist.
fn current_setting(settings: Arc<Mutex<Settings>>) -> ScalarUDF {
    create_udf(
        "current_setting",
        vec![DataType::Utf8],
        DataType::Utf8,
        Volatility::Stable,
        Arc::new(move |args: &[ColumnarValue]| {
            let settings = settings.lock().map_err(|_| DataFusionError::Internal("settings lock poisoned".into()))?;
            let lookup = |name: Option<&str>| -> Result<Option<String>> {
                let Some(name) = name else { return Ok(None) };
                settings
                    .get(name)
                    .map(Some)
                    .ok_or_else(|| DataFusionError::Plan(format!("unrecognized configuration parameter \"{name}\"")))
            };
            match &args[0] {
                ColumnarValue::Scalar(value) => {
                    Ok(ColumnarValue::Scalar(ScalarValue::Utf8(lookup(value.try_as_str().flatten())?)))
                }
                ColumnarValue::Array(array) => {
                    let names = datafusion::arrow::compute::cast(array, &DataType::Utf8)?;
                    let names = names.as_string::<i32>();
                    let mut out = StringBuilder::new();
                    for i in 0..names.len() {
                        out.append_option(lookup(names.is_valid(i).then(|| names.value(i)))?);
                    }
                    Ok(ColumnarValue::Array(Arc::new(out.finish())))
                }
            }
        }),
    )
}

/// `set_config(name, value, is_local)`: sets the session's setting, and answers its new value.
fn set_config(settings: Arc<Mutex<Settings>>) -> ScalarUDF {
    create_udf(
        "set_config",
        vec![DataType::Utf8, DataType::Utf8, DataType::Boolean],
        DataType::Utf8,
        Volatility::Volatile,
        Arc::new(move |args: &[ColumnarValue]| {
            let text = |arg: &ColumnarValue| match arg {
                ColumnarValue::Scalar(value) => value.try_as_str().flatten().map(str::to_string),
                ColumnarValue::Array(array) => {
                    ScalarValue::try_from_array(array, 0).ok()?.try_as_str().flatten().map(str::to_string)
                }
            };
            let (Some(name), value) = (text(&args[0]), text(&args[1])) else {
                return Ok(ColumnarValue::Scalar(ScalarValue::Utf8(None)));
            };
            let mut settings =
                settings.lock().map_err(|_| DataFusionError::Internal("settings lock poisoned".into()))?;
            settings.set(&name, value.as_deref()).map_err(|e| DataFusionError::Plan(e.message.clone()))?;
            Ok(ColumnarValue::Scalar(ScalarValue::Utf8(settings.get(&name))))
        }),
    )
}

/// Installs `pg_catalog` (with the warehouse in it) and the system functions in a session of
/// `user`.
pub(crate) fn install(session: &Session, user: &str, settings: Arc<Mutex<Settings>>) -> Result<()> {
    let ctx = session.context();
    // A literal such as 0.1 is a `numeric` in PostgreSQL, and drivers that interpolate
    // parameters (psycopg2) send decimals as such literals.
    ctx.state_ref().write().config_mut().options_mut().sql_parser.parse_float_as_decimal = true;
    // information_schema is ours (DataFusion's, with PostgreSQL's type names and the keys), so
    // DataFusion's own is turned off for the session and ours registered in its place.
    ctx.state_ref().write().config_mut().options_mut().catalog.information_schema = false;
    datafusion_pg_catalog::setup_pg_catalog(ctx, CATALOG_NAME, EmptyContextProvider).map_err(|e| *e)?;
    let catalog = ctx.catalog(CATALOG_NAME).ok_or_else(|| DataFusionError::Internal("no warehouse catalog".into()))?;
    let library = catalog.schema("pg_catalog").ok_or_else(|| DataFusionError::Internal("no pg_catalog".into()))?;
    let overlay = WarehouseCatalog::new(library, Arc::clone(session.engine()), Arc::clone(&settings));
    catalog.register_schema("pg_catalog", Arc::new(overlay))?;
    let information = InformationSchemaProvider::new(ctx.state().catalog_list().clone());
    catalog.register_schema(
        "information_schema",
        Arc::new(InformationSchema::new(Arc::new(information), Arc::clone(session.engine()))),
    )?;
    for function in pg_catalog::functions(session.engine()) {
        ctx.register_udf(function);
    }
    ctx.register_udf(constant("version", version_string()));
    ctx.register_udf(constant("session_user", user.to_string()));
    ctx.register_udf(constant("current_user", user.to_string()));
    ctx.register_udf(current_setting(Arc::clone(&settings)));
    ctx.register_udf(set_config(settings));
    ctx.register_udf(expand_array());
    Ok(())
}

/// `'pg_class'::regclass` (a catalog table by name, qualified or not, as DBeaver and SQLAlchemy
/// compare `classoid` with it) written as its fixed OID. The rewriter of datafusion-pg-catalog
/// looks unqualified names up in `current_schema()` only, where PostgreSQL's search path starts
/// with `pg_catalog`.
pub(crate) fn catalog_regclasses(sql: &str) -> std::borrow::Cow<'_, str> {
    if !sql.as_bytes().windows(b"::regclass".len()).any(|w| w.eq_ignore_ascii_case(b"::regclass")) {
        return std::borrow::Cow::Borrowed(sql);
    }
    let mut resolved = sql.to_string();
    for (table, oid) in pg_catalog::CATALOG_OIDS {
        for name in [table.to_string(), format!("pg_catalog.{table}")] {
            for cast in ["::regclass", "::REGCLASS", "::pg_catalog.regclass"] {
                // Padded to the same length, so that positions in error messages stay right.
                let number = oid.to_string();
                let padding = " ".repeat(name.len().saturating_sub(number.len()));
                resolved = resolved.replace(&format!("'{name}'{cast}"), &format!("'{number}'{cast}{padding}"));
            }
        }
    }
    std::borrow::Cow::Owned(resolved)
}

/// The name of a relation, for `oid::regclass` shown in a result (rather than compared).
pub(crate) const REGCLASS_NAME: &str = "starhouse_regclass_name";

fn is_regclass(data_type: &SQLDataType) -> bool {
    data_type.to_string().to_lowercase().rsplit('.').next() == Some("regclass")
}

/// Shows `expr::regclass` in a select list as the relation's name, as PostgreSQL prints a
/// `regclass` (DataFusion knows it as a number). Casts elsewhere (in comparisons) stay numbers.
fn show_regclass(expr: &mut Expr) {
    match expr {
        Expr::Cast { expr: inner, data_type, .. }
            if is_regclass(data_type) && !matches!(inner.as_ref(), Expr::Value(_)) =>
        {
            let argument = std::mem::replace(inner.as_mut(), Expr::value(Value::Null));
            *expr = call(REGCLASS_NAME, vec![argument]);
        }
        Expr::Cast { expr: inner, .. } => show_regclass(inner),
        _ => {}
    }
}

/// `ARRAY(subquery)` as DataFusion can run it: the subquery's values gathered with
/// `array_agg`. Over `unnest` of an outer column (catalog options, which a warehouse never has),
/// NULL.
fn array_subqueries(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && function.name.to_string().eq_ignore_ascii_case("array")
            && let FunctionArguments::Subquery(query) = &function.args
        {
            let mut unnests = false;
            let _ = visit_relations(query.as_ref(), |relation| {
                unnests |= relation.to_string().to_lowercase().ends_with("unnest");
                ControlFlow::<()>::Continue(())
            });
            let mut gathered = query.as_ref().clone();
            let aggregated = match gathered.body.as_mut() {
                SetExpr::Select(select) if !unnests && select.projection.len() == 1 => {
                    let value = match select.projection.remove(0) {
                        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
                        _ => return ControlFlow::<()>::Continue(()),
                    };
                    select.projection.push(SelectItem::UnnamedExpr(call("array_agg", vec![value])));
                    gathered.order_by = None;
                    true
                }
                _ => false,
            };
            *expr = if aggregated { Expr::Subquery(Box::new(gathered)) } else { Expr::value(Value::Null) };
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Functions whose value is one row of a group: a scalar subquery that calls one is aggregated.
const AGGREGATES: &[&str] =
    &["count", "sum", "min", "max", "avg", "array_agg", "string_agg", "bool_and", "bool_or", "every"];

/// A scalar subquery of one column, without aggregate or limit, as DataFusion can run it when it
/// is correlated: its value aggregated with `min` (DataFusion requires an aggregate to know the
/// subquery answers at most one row; PostgreSQL would fail on more than one, so the answers
/// agree wherever PostgreSQL answers). Npgsql's type loading, which Power BI runs, needs it.
fn aggregate_scalar_subqueries(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Subquery(query) = expr
            && query.limit_clause.is_none()
            && query.fetch.is_none()
            && let SetExpr::Select(select) = query.body.as_mut()
            && matches!(&select.group_by, GroupByExpr::Expressions(keys, _) if keys.is_empty())
            && let [SelectItem::UnnamedExpr(value) | SelectItem::ExprWithAlias { expr: value, .. }] =
                select.projection.as_mut_slice()
            && !matches!(value, Expr::Function(f) if AGGREGATES.iter().any(|a| f.name.to_string().eq_ignore_ascii_case(a)))
        {
            *value = call("min", vec![value.clone()]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `generate_subscripts(array, 1)` (the positions of an array's elements, a set-returning
/// function that SQLAlchemy pairs with `unnest` of the same array) as DataFusion can run it:
/// `unnest(generate_series(1, cardinality(array)))`.
fn subscripts(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && function.name.to_string().eq_ignore_ascii_case("generate_subscripts")
            && let FunctionArguments::List(list) = &function.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) = list.args.first()
        {
            let positions = call(
                "generate_series",
                vec![Expr::value(Value::Number("1".into(), false)), call("cardinality", vec![array.clone()])],
            );
            *expr = call("unnest", vec![positions]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// The name of [`expand_array`]'s function.
const EXPAND_ARRAY: &str = "starhouse_expandarray";

/// `information_schema._pg_expandarray(array)` (a set-returning function of `(x, n)` records:
/// each element and its position, which pgjdbc reads keys with) as DataFusion can run it:
/// `unnest(starhouse_expandarray(CAST(array AS BIGINT[])))`.
fn expand_arrays(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && function.name.0.last().and_then(|part| part.as_ident()).is_some_and(|i| i.value == "_pg_expandarray")
            && let FunctionArguments::List(list) = &function.args
            && let Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(array))) = list.args.first()
        {
            let bigints = Expr::Cast {
                kind: CastKind::Cast,
                expr: Box::new(array.clone()),
                data_type: SQLDataType::Array(ArrayElemTypeDef::SquareBracket(
                    Box::new(SQLDataType::BigInt(None)),
                    None,
                )),
                array: false,
                format: None,
            };
            *expr = call("unnest", vec![call(EXPAND_ARRAY, vec![bigints])]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `(record).field` (a field of a composite value, which pgjdbc reads `_pg_expandarray`'s
/// records with) as DataFusion can run it: `get_field(record, 'field')`.
fn record_fields(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && let [AccessExpr::Dot(Expr::Identifier(field))] = access_chain.as_slice()
        {
            let name = Expr::value(Value::SingleQuotedString(field.value.to_lowercase()));
            *expr = call("get_field", vec![root.as_ref().clone(), name]);
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Boolean columns of `pg_catalog` that clients compare with a quoted literal (`indisprimary =
/// 't'`), which PostgreSQL reads as a boolean and DataFusion cannot compare with a string.
const CATALOG_BOOLEANS: &[&str] = &[
    "attisdropped",
    "attnotnull",
    "atthasdef",
    "condeferrable",
    "condeferred",
    "convalidated",
    "datallowconn",
    "datistemplate",
    "indisclustered",
    "indisprimary",
    "indisunique",
    "indisvalid",
    "proretset",
    "relhasindex",
    "relhasrules",
    "relhastriggers",
    "relispartition",
    "rolcanlogin",
    "rolsuper",
    "typisdefined",
    "typnotnull",
];

/// `indisprimary = 't'` as `indisprimary = true`, for the columns in [`CATALOG_BOOLEANS`].
fn catalog_boolean_literals(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::BinaryOp { left, op: BinaryOperator::Eq | BinaryOperator::NotEq, right } = expr {
            let column = |e: &Expr| match e {
                Expr::Identifier(ident) => Some(ident.value.to_lowercase()),
                Expr::CompoundIdentifier(parts) => parts.last().map(|ident| ident.value.to_lowercase()),
                _ => None,
            };
            let boolean = |e: &Expr| match e {
                Expr::Value(ValueWithSpan { value: Value::SingleQuotedString(text), .. }) => {
                    match text.to_lowercase().as_str() {
                        "t" | "true" | "y" | "yes" | "on" | "1" => Some(true),
                        "f" | "false" | "n" | "no" | "off" | "0" => Some(false),
                        _ => None,
                    }
                }
                _ => None,
            };
            let catalog_boolean = |e: &Expr| column(e).is_some_and(|c| CATALOG_BOOLEANS.contains(&c.as_str()));
            if catalog_boolean(left)
                && let Some(value) = boolean(right)
            {
                **right = Expr::value(Value::Boolean(value));
            } else if catalog_boolean(right)
                && let Some(value) = boolean(left)
            {
                **left = Expr::value(Value::Boolean(value));
            }
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `int2vector` columns of `pg_index`: PostgreSQL numbers their elements from 0, DataFusion's
/// lists from 1.
const INT2VECTORS: &[&str] = &["indkey", "indclass", "indcollation", "indoption"];

/// `indkey[i]` as `indkey[i + 1]`, and `generate_series(...)` in a select list (a set-returning
/// function in PostgreSQL, a list in DataFusion) as `unnest(generate_series(...))`: how psqlODBC
/// reads primary and foreign keys.
fn postgresql_arrays(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        let vector = |name: &Ident| INT2VECTORS.contains(&name.value.to_lowercase().as_str());
        // `indkey[i]` has `indkey` as its root; `x.indkey[i]`, `x` as its root and `.indkey` first.
        if let Expr::CompoundFieldAccess { root, access_chain } = expr
            && let Some((AccessExpr::Subscript(Subscript::Index { index }), before)) = access_chain.split_last_mut()
            && match (root.as_ref(), before) {
                (Expr::Identifier(name), []) => vector(name),
                (Expr::CompoundIdentifier(parts), []) => parts.last().is_some_and(vector),
                (_, [AccessExpr::Dot(Expr::Identifier(name))]) => vector(name),
                _ => false,
            }
        {
            *index = Expr::BinaryOp {
                left: Box::new(Expr::Nested(Box::new(index.clone()))),
                op: BinaryOperator::Plus,
                right: Box::new(Expr::value(Value::Number("1".into(), false))),
            };
        }
        ControlFlow::<()>::Continue(())
    });
    struct Queries;
    impl VisitorMut for Queries {
        type Break = ();
        fn pre_visit_query(&mut self, query: &mut Query) -> ControlFlow<()> {
            select_items_mut(&mut query.body, &mut |item| {
                if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item
                    && let Expr::Function(function) = expr
                    && function.name.to_string().eq_ignore_ascii_case("generate_series")
                {
                    *expr = call("unnest", vec![expr.clone()]);
                }
            });
            ControlFlow::Continue(())
        }
    }
    let _ = statement.visit(&mut Queries);
}

/// Calls `change` on every item of the select lists of `body`, through parenthesized queries
/// and set operations (not into subqueries).
fn select_items_mut(body: &mut SetExpr, change: &mut impl FnMut(&mut SelectItem)) {
    match body {
        SetExpr::Select(select) => select.projection.iter_mut().for_each(change),
        SetExpr::Query(query) => select_items_mut(&mut query.body, change),
        SetExpr::SetOperation { left, right, .. } => {
            select_items_mut(left, change);
            select_items_mut(right, change);
        }
        _ => {}
    }
}

/// Casts to PostgreSQL's `name` (the type of identifiers in the catalog), as casts to `text`.
fn name_casts(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Cast { data_type, .. } = expr
            && matches!(data_type.to_string().to_lowercase().as_str(), "name" | "pg_catalog.name")
        {
            *data_type = SQLDataType::Text;
        }
        ControlFlow::<()>::Continue(())
    });
}

/// `user` (a keyword: the current user in PostgreSQL, which sqlparser reads as a function
/// without parentheses) as `current_user()`.
fn user_keyword(statement: &mut SQLStatement) {
    let _ = visit_expressions_mut(statement, |expr| {
        if let Expr::Function(function) = expr
            && matches!(function.args, FunctionArguments::None)
            && function.name.to_string().eq_ignore_ascii_case("user")
        {
            *expr = call("current_user", Vec::new());
        }
        ControlFlow::<()>::Continue(())
    });
}

/// Functions DataFusion runs in `FROM` by themselves (with literal arguments).
const TABLE_FUNCTIONS: &[&str] = &["generate_series", "range"];

/// Functions in `FROM` as DataFusion can run them, as PostgreSQL does: a scalar function is a
/// one-row relation (`FROM string_to_array(x, ',') s`), and `generate_series` of computed bounds
/// is the `unnest` of its list (`FROM generate_series(1, array_upper(a, 1)) AS i`). Grafana lists
/// tables with both.
struct FromFunctions;

impl VisitorMut for FromFunctions {
    type Break = ();

    fn pre_visit_table_factor(&mut self, factor: &mut TableFactor) -> ControlFlow<()> {
        let TableFactor::Table { name, args: Some(args), alias: Some(alias), .. } = factor else {
            return ControlFlow::Continue(());
        };
        let function =
            name.0.last().and_then(|part| part.as_ident()).map(|i| i.value.to_lowercase()).unwrap_or_default();
        let literal =
            args.args.iter().all(|a| matches!(a, FunctionArg::Unnamed(FunctionArgExpr::Expr(Expr::Value(_)))));
        let arguments: Vec<Expr> = args
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => Some(e.clone()),
                _ => None,
            })
            .collect();
        if arguments.len() != args.args.len() {
            return ControlFlow::Continue(());
        }
        let value = match function.as_str() {
            "generate_series" if !literal => call("unnest", vec![call("generate_series", arguments)]),
            f if !TABLE_FUNCTIONS.contains(&f) => call(&function, arguments),
            _ => return ControlFlow::Continue(()),
        };
        let column = alias.columns.first().map(|c| c.name.clone()).unwrap_or_else(|| alias.name.clone());
        let Ok(Some(SQLStatement::Query(subquery))) =
            Parser::parse_sql(&PostgreSqlDialect {}, &format!("SELECT {value} AS {column}")).map(|mut s| s.pop())
        else {
            return ControlFlow::Continue(());
        };
        let alias = TableAlias { explicit: true, name: alias.name.clone(), columns: Vec::new(), at: None };
        *factor = TableFactor::Derived { lateral: false, subquery, alias: Some(alias), sample: None };
        ControlFlow::Continue(())
    }
}

/// The element type of [`expand_array`]'s lists: PostgreSQL's `(x, n)` record.
fn expanded_element() -> DataType {
    DataType::Struct(Fields::from(vec![
        Field::new("x", DataType::Int64, true),
        Field::new("n", DataType::Int64, false),
    ]))
}

/// Each list of numbers as a list of `(x, n)`: every element with its position (from 1).
fn expand_array() -> ScalarUDF {
    create_udf(
        EXPAND_ARRAY,
        vec![DataType::new_list(DataType::Int64, true)],
        DataType::new_list(expanded_element(), true),
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let [arg] = args else {
                return Err(DataFusionError::Plan(format!("{EXPAND_ARRAY} takes one array")));
            };
            let array = arg.to_array(1)?;
            let lists = array.as_list::<i32>();
            let (mut values, mut positions, mut lengths) = (Vec::new(), Vec::new(), Vec::new());
            for row in 0..lists.len() {
                let length = if lists.is_null(row) {
                    0
                } else {
                    let list = lists.value(row);
                    let numbers = list.as_primitive::<Int64Type>();
                    values.extend(numbers.iter());
                    positions.extend(1..=numbers.len() as i64);
                    numbers.len()
                };
                lengths.push(length);
            }
            let DataType::Struct(fields) = expanded_element() else {
                return Err(DataFusionError::Internal("the (x, n) record is a struct".into()));
            };
            let records = StructArray::try_new(
                fields,
                vec![Arc::new(Int64Array::from(values)), Arc::new(Int64Array::from(positions))],
                None,
            )?;
            let expanded = ListArray::try_new(
                Arc::new(Field::new_list_field(expanded_element(), true)),
                OffsetBuffer::from_lengths(lengths),
                Arc::new(records),
                lists.nulls().cloned(),
            )?;
            Ok(match arg {
                ColumnarValue::Scalar(_) => ColumnarValue::Scalar(ScalarValue::try_from_array(&expanded, 0)?),
                ColumnarValue::Array(_) => ColumnarValue::Array(Arc::new(expanded)),
            })
        }),
    )
}

/// A call of a function.
fn call(name: &str, arguments: Vec<Expr>) -> Expr {
    Expr::Function(Function {
        name: ObjectName::from(vec![Ident::new(name)]),
        uses_odbc_syntax: false,
        parameters: FunctionArguments::None,
        args: FunctionArguments::List(FunctionArgumentList {
            duplicate_treatment: None,
            args: arguments.into_iter().map(|a| FunctionArg::Unnamed(FunctionArgExpr::Expr(a))).collect(),
            clauses: vec![],
        }),
        filter: None,
        null_treatment: None,
        over: None,
        within_group: vec![],
    })
}

/// Rewrites a query for DataFusion to answer as PostgreSQL would: `ARRAY(subquery)` (see
/// [`array_subqueries`]), scalar subqueries (see [`aggregate_scalar_subqueries`]),
/// `generate_subscripts` (see [`subscripts`]), `_pg_expandarray` and
/// `(record).field` (see [`expand_arrays`], [`record_fields`]), functions in `FROM` (see
/// [`FromFunctions`]), `user` (see [`user_keyword`]), `'t'` for catalog booleans (see
/// [`catalog_boolean_literals`]), `int2vector` subscripts and `generate_series` in a select list
/// (see [`postgresql_arrays`]), `::name` (see [`name_casts`]) and `regclass` shown by name (see
/// [`show_regclass`]).
pub(crate) fn for_display(mut statement: SQLStatement) -> SQLStatement {
    array_subqueries(&mut statement);
    aggregate_scalar_subqueries(&mut statement);
    subscripts(&mut statement);
    expand_arrays(&mut statement);
    record_fields(&mut statement);
    let _ = statement.visit(&mut FromFunctions);
    user_keyword(&mut statement);
    catalog_boolean_literals(&mut statement);
    postgresql_arrays(&mut statement);
    name_casts(&mut statement);
    if let SQLStatement::Query(query) = &mut statement {
        select_items_mut(&mut query.body, &mut |item| {
            if let SelectItem::UnnamedExpr(expr) | SelectItem::ExprWithAlias { expr, .. } = item {
                show_regclass(expr);
            }
        });
    }
    statement
}

/// `schema` with the columns renamed where `names` says (when it names every column). The
/// columns are nullable: the wire does not tell nullability, and DataFusion 55 declares a scalar
/// subquery's column non-nullable even when the subquery finds no row.
pub(crate) fn renamed(schema: &SchemaRef, names: Option<&[Option<String>]>) -> SchemaRef {
    match names {
        Some(names) if names.len() == schema.fields().len() => {
            let fields: Vec<Field> = schema
                .fields()
                .iter()
                .zip(names)
                .map(|(field, name)| {
                    match name {
                        Some(name) => field.as_ref().clone().with_name(name),
                        None => field.as_ref().clone(),
                    }
                    .with_nullable(true)
                })
                .collect();
            Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone()))
        }
        _ => Arc::clone(schema),
    }
}

/// A result with its columns renamed as [`renamed`] does.
pub(crate) fn rename(stream: SendableRecordBatchStream, names: Option<&[Option<String>]>) -> SendableRecordBatchStream {
    let schema = renamed(&stream.schema(), names);
    if Arc::ptr_eq(&schema, &stream.schema()) {
        return stream;
    }
    let batches = {
        let schema = Arc::clone(&schema);
        stream
            .map(move |batch| batch.and_then(|b| Ok(RecordBatch::try_new(Arc::clone(&schema), b.columns().to_vec())?)))
    };
    Box::pin(RecordBatchStreamAdapter::new(schema, batches))
}

/// The select list of a query's first SELECT (the one PostgreSQL names a result's columns by).
fn select_items(query: &Query) -> Option<&[SelectItem]> {
    let mut body = query.body.as_ref();
    loop {
        body = match body {
            SetExpr::Select(select) => return Some(&select.projection),
            SetExpr::Query(query) => query.body.as_ref(),
            SetExpr::SetOperation { left, .. } => left.as_ref(),
            _ => return None,
        };
    }
}

/// The name PostgreSQL gives an unaliased expression in a select list.
fn expression_name(expr: &Expr) -> String {
    match expr {
        Expr::Identifier(ident) => ident.value.clone(),
        Expr::CompoundIdentifier(parts) => parts.last().map(|p| p.value.clone()).unwrap_or_default(),
        Expr::Function(function) if function.name.to_string() == REGCLASS_NAME => match &function.args {
            FunctionArguments::List(list) => match list.args.first() {
                Some(FunctionArg::Unnamed(FunctionArgExpr::Expr(argument))) => expression_name(argument),
                _ => "?column?".into(),
            },
            _ => "?column?".into(),
        },
        Expr::Function(function) => function
            .name
            .0
            .last()
            .and_then(|part| part.as_ident())
            .map(|ident| if ident.quote_style.is_some() { ident.value.clone() } else { ident.value.to_lowercase() })
            .unwrap_or_else(|| "?column?".into()),
        Expr::Cast { expr, data_type, .. } => match expression_name(expr).as_str() {
            "?column?" => type_name(data_type),
            name => name.to_string(),
        },
        Expr::Nested(inner) => expression_name(inner),
        Expr::Case { .. } => "case".into(),
        Expr::Exists { .. } => "exists".into(),
        Expr::Array(_) => "array".into(),
        Expr::Subquery(query) => match select_items(query).and_then(|items| items.first()) {
            Some(SelectItem::ExprWithAlias { alias, .. }) => alias.value.clone(),
            Some(SelectItem::UnnamedExpr(expr)) => expression_name(expr),
            _ => "?column?".into(),
        },
        Expr::CompoundFieldAccess { root, .. } => expression_name(root),
        _ => "?column?".into(),
    }
}

/// PostgreSQL's name for a type in a cast that names a column (`1::int` is `int4`).
fn type_name(data_type: &SQLDataType) -> String {
    let written = data_type.to_string().to_lowercase();
    let base = written.split('(').next().unwrap_or_default().trim().rsplit('.').next().unwrap_or_default().to_string();
    match base.as_str() {
        "int" | "integer" | "int4" => "int4".into(),
        "bigint" | "int8" => "int8".into(),
        "smallint" | "int2" => "int2".into(),
        "real" | "float4" => "float4".into(),
        "double precision" | "double" | "float8" | "float" => "float8".into(),
        "boolean" | "bool" => "bool".into(),
        "decimal" | "numeric" => "numeric".into(),
        "character varying" | "varchar" => "varchar".into(),
        "character" | "char" => "bpchar".into(),
        "timestamp with time zone" | "timestamptz" => "timestamptz".into(),
        "timestamp" | "timestamp without time zone" => "timestamp".into(),
        other => other.to_string(),
    }
}

/// The names PostgreSQL gives a query's result columns where an expression has no alias
/// (`count(*)` is `count`, `1 + 1` is `?column?`); `None` for a column that keeps its name, and
/// no names at all when the select list has a wildcard.
pub(crate) fn column_names(statement: &SQLStatement) -> Option<Vec<Option<String>>> {
    let SQLStatement::Query(query) = statement else {
        return None;
    };
    select_items(query)?
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some(Some(expression_name(expr))),
            SelectItem::ExprWithAlias { .. } | SelectItem::ExprWithAliases { .. } => Some(None),
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => None,
        })
        .collect()
}

/// `pg_catalog` tables that are always empty in a warehouse (no triggers, policies,
/// inheritance, publications, ...). Client queries over them that DataFusion cannot plan are
/// answered with no rows.
const EMPTY_RELATIONS: &[&str] = &[
    "pg_trigger",
    "pg_policy",
    "pg_inherits",
    "pg_statistic_ext",
    "pg_statistic_ext_data",
    "pg_publication",
    "pg_publication_rel",
    "pg_publication_namespace",
    "pg_rewrite",
    "pg_event_trigger",
    "pg_foreign_table",
    "pg_partitioned_table",
    "pg_sequence",
    "pg_subscription",
];

/// The (empty) answer to a query over an always-empty catalog table: no rows, with the
/// columns of its select list.
pub(crate) fn empty_answer(statement: &SQLStatement) -> Option<SchemaRef> {
    let SQLStatement::Query(query) = statement else {
        return None;
    };
    let mut empty = false;
    let _ = visit_relations(statement, |relation| {
        let name = relation.0.last().and_then(|part| part.as_ident()).map(|i| i.value.to_lowercase());
        empty |= name.is_some_and(|name| EMPTY_RELATIONS.contains(&name.as_str()));
        ControlFlow::<()>::Continue(())
    });
    if !empty {
        return None;
    }
    let fields: Vec<Field> = select_items(query)?
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(expr) => Some(expression_name(expr)),
            SelectItem::ExprWithAlias { alias, .. } => Some(alias.value.clone()),
            _ => None,
        })
        .map(|name| name.map(|name| Field::new(name, DataType::Utf8, true)))
        .collect::<Option<_>>()?;
    Some(Arc::new(Schema::new(fields)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(sql: &str) -> SQLStatement {
        Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses").remove(0)
    }

    #[test]
    fn catalog_regclasses_become_their_oids_at_the_same_length() {
        let sql = "SELECT 1 WHERE c = 'pg_class'::regclass AND n = 'pg_catalog.pg_namespace'::regclass AND x = 'mine'::regclass";
        let resolved = catalog_regclasses(sql);
        assert_eq!(resolved.len(), sql.len());
        assert!(resolved.contains("'1259'::regclass") && resolved.contains("'2615'::regclass"), "{resolved}");
        assert!(resolved.contains("'mine'::regclass"), "a warehouse table is looked up by name: {resolved}");
        assert!(matches!(catalog_regclasses("SELECT 1"), std::borrow::Cow::Borrowed(_)));
    }

    #[test]
    fn unaliased_columns_get_postgresql_names() {
        let names = column_names(&parse(
            "SELECT count(*), d.year, 1 + 1, x AS y, pg_catalog.format_type(t, m), 1::int, a::text, CASE WHEN true THEN 1 END FROM d",
        ));
        let expected = ["count", "year", "?column?", "", "format_type", "int4", "a", "case"];
        let expected: Vec<Option<String>> = expected.iter().map(|n| (!n.is_empty()).then(|| n.to_string())).collect();
        assert_eq!(names, Some(expected));
        assert_eq!(column_names(&parse("SELECT *, a FROM t")), None);
    }

    #[test]
    fn queries_over_always_empty_catalogs_have_an_empty_answer() {
        let schema = empty_answer(&parse(
            "SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true) FROM pg_catalog.pg_trigger t WHERE t.tgrelid = '1'",
        ))
        .expect("an empty answer");
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert_eq!(names, ["tgname", "pg_get_triggerdef"]);
        assert!(empty_answer(&parse("SELECT * FROM pg_catalog.pg_class")).is_none());
    }
}
