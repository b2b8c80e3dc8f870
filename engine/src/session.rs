//! A session: one user's settings and the statements they run.

use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::catalog::{CatalogProvider, MemoryCatalogProvider, SchemaProvider};
use datafusion::config::ExtensionOptions;
use datafusion::error::DataFusionError;
use datafusion::execution::{SendableRecordBatchStream, SessionStateBuilder};
use datafusion::logical_expr::WriteOp;
use datafusion::logical_expr::dml::InsertOp;
use datafusion::logical_expr::{LogicalPlan, Statement as PlanStatement};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::prelude::SessionContext;
use datafusion::sql::parser::{ResetStatement, Statement as DFStatement};
use datafusion::sql::sqlparser::ast::{
    Expr as SqlExpr, Ident, ObjectName, ObjectType, Set, Statement as SQLStatement, TableObject, Value as SqlValue,
};
use futures::TryStreamExt;
use starhouse_catalog::TableName;

use crate::error::EngineError;
use crate::history::{self, SYSTEM_SCHEMA, SnapshotSchema, SystemSchema};
use crate::load::{self, LoadOptions, LoadOutcome, LoadTarget};
use crate::sql::{AsOf, Parsed, Statement};
use crate::star::StarhouseOptions;
use crate::{CATALOG_NAME, Engine, SCHEMA_NAME, ddl, describe};

/// How long `VACUUM` keeps files that no current version uses, unless told (as Delta Lake does).
const DEFAULT_RETENTION: chrono::Duration = chrono::Duration::days(7);

/// Whether a statement changes the warehouse's catalog (the statements the engine itself gives
/// meaning to; DataFusion's are checked once planned).
fn changes_the_warehouse(statement: &Statement) -> bool {
    match &statement.0 {
        Parsed::SetRole { .. }
        | Parsed::CopyFrom(_)
        | Parsed::Restore { .. }
        | Parsed::Vacuum { .. }
        | Parsed::Optimize { .. } => true,
        Parsed::DataFusion(statement) => match statement.as_ref() {
            DFStatement::CreateExternalTable(_) => true,
            DFStatement::Statement(statement) => matches!(
                statement.as_ref(),
                SQLStatement::AlterTable(_)
                    | SQLStatement::Comment { .. }
                    | SQLStatement::Drop { .. }
                    | SQLStatement::Analyze(_)
                    | SQLStatement::CreateTable(_)
                    | SQLStatement::Insert(_)
            ),
            _ => false,
        },
    }
}

/// The setting that makes a session read the warehouse as of an old version.
pub const AS_OF_SETTING: &str = "starhouse.as_of";

/// Whether `name` is one of Starhouse's planner settings (`starhouse.*`, see `StarhouseOptions`).
fn is_starhouse_setting(name: &str) -> bool {
    name.get(..10).is_some_and(|prefix| prefix.eq_ignore_ascii_case("starhouse."))
}

/// A name given as words (`SHOW a.b` is the words `a` and `b`), with its dots.
fn dotted(words: &[Ident]) -> String {
    words.iter().map(|w| w.value.as_str()).collect::<Vec<_>>().join(".")
}

/// Whether `name` is [`AS_OF_SETTING`].
fn is_as_of(name: &ObjectName) -> bool {
    name.to_string().eq_ignore_ascii_case(AS_OF_SETTING)
}

/// A one-batch answer.
pub(crate) fn rows(batch: RecordBatch) -> Output {
    let schema = batch.schema();
    let stream = futures::stream::iter([Ok(batch)]);
    Output::Rows(Box::pin(RecordBatchStreamAdapter::new(schema, stream)))
}

/// What a statement answers.
pub enum Output {
    /// Rows, streamed as they are computed. Dropping the stream cancels the query.
    Rows(SendableRecordBatchStream),
    /// A statement that changed something, with its command tag (`CREATE EXTERNAL TABLE`, `SET`).
    Command(String),
}

impl std::fmt::Debug for Output {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Output::Rows(stream) => write!(f, "Rows({:?})", stream.schema()),
            Output::Command(tag) => write!(f, "Command({tag})"),
        }
    }
}

/// The session's catalog: the warehouse's schema (and those front ends add, such as
/// `pg_catalog`), and `system`, which is queried by name but not listed: like PostgreSQL's
/// `pg_catalog`, it is not one of the schemas that tools browse.
#[derive(Debug)]
struct WarehouseCatalog {
    schemas: MemoryCatalogProvider,
    system: Arc<SystemSchema>,
}

impl CatalogProvider for WarehouseCatalog {
    fn schema_names(&self) -> Vec<String> {
        self.schemas.schema_names()
    }

    fn schema(&self, name: &str) -> Option<Arc<dyn SchemaProvider>> {
        if name == SYSTEM_SCHEMA {
            return Some(Arc::clone(&self.system) as _);
        }
        self.schemas.schema(name)
    }

    fn register_schema(
        &self,
        name: &str,
        schema: Arc<dyn SchemaProvider>,
    ) -> datafusion::error::Result<Option<Arc<dyn SchemaProvider>>> {
        self.schemas.register_schema(name, schema)
    }
}

/// One user's session: its own DataFusion settings over the engine's shared warehouse.
pub struct Session {
    engine: Arc<Engine>,
    ctx: SessionContext,
    read_only: bool,
    /// The old version this session reads (`SET starhouse.as_of`), if any.
    as_of: std::sync::Mutex<Option<u64>>,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("session_id", &self.ctx.session_id()).finish()
    }
}

impl Session {
    pub(crate) fn new(engine: Arc<Engine>) -> Self {
        let state = SessionStateBuilder::new()
            .with_config(Engine::session_config())
            .with_runtime_env(Arc::clone(&engine.runtime))
            .with_default_features()
            .with_physical_optimizer_rule(Arc::new(crate::prefilter::FILTER_BEFORE_AGGREGATE))
            .with_physical_optimizer_rule(Arc::new(crate::keyfilter::JOIN_KEY_FILTERS))
            .with_physical_optimizer_rule(Arc::new(crate::conjuncts::RANGE_APART))
            .with_physical_optimizer_rule(Arc::new(crate::shared::LINK_SHARED))
            .with_query_planner(Arc::new(crate::shared::StarhousePlanner))
            .build();
        let ctx = SessionContext::new_with_state(state);
        ctx.add_analyzer_rule(Arc::new(crate::shared::ShareRepeatedAggregates));
        for rule in [
            crate::star::STAR_JOINS,
            crate::semi::SEMI_JOINS,
            crate::decimal::DECIMAL_LITERALS,
            crate::conjuncts::CHEAP_CONDITIONS_FIRST,
        ] {
            ctx.add_optimizer_rule(Arc::new(rule));
        }
        let catalog = WarehouseCatalog {
            schemas: MemoryCatalogProvider::new(),
            system: Arc::new(SystemSchema { warehouse: Arc::clone(&engine.warehouse) }),
        };
        catalog
            .register_schema(SCHEMA_NAME, Arc::clone(&engine.tables) as _)
            .expect("a memory catalog always accepts a schema");
        ctx.register_catalog(CATALOG_NAME, Arc::new(catalog));
        Self { engine, ctx, read_only: false, as_of: std::sync::Mutex::new(None) }
    }

    /// The version this session reads, when it reads an old one.
    pub fn as_of(&self) -> Option<u64> {
        *self.as_of.lock().expect("the as_of lock is never poisoned")
    }

    /// Reads the warehouse as of `at` (an old version), or as it is now (`None`).
    async fn set_as_of(&self, at: Option<AsOf>) -> Result<Output, EngineError> {
        let catalog = self.ctx.catalog(CATALOG_NAME).ok_or_else(|| {
            EngineError::DataFusion(datafusion::common::internal_datafusion_err!("the session has no catalog"))
        })?;
        let (schema, number): (Arc<dyn SchemaProvider>, _) = match at {
            Some(at) => {
                let version = history::resolve(&self.engine.warehouse, at).await?;
                let number = version.number;
                (Arc::new(SnapshotSchema { engine: Arc::clone(&self.engine), version }), Some(number))
            }
            None => (Arc::clone(&self.engine.tables) as _, None),
        };
        catalog.register_schema(SCHEMA_NAME, schema)?;
        *self.as_of.lock().expect("the as_of lock is never poisoned") = number;
        Ok(Output::Command(if at.is_some() { "SET" } else { "RESET" }.into()))
    }

    /// Loads files into managed tables in one commit (`starhouse load`).
    pub async fn load(&self, targets: &[LoadTarget], options: &LoadOptions) -> Result<LoadOutcome, EngineError> {
        let source = targets.iter().flat_map(|t| t.files.iter().map(String::as_str)).collect::<Vec<_>>().join(", ");
        let operation = format!(
            "LOAD {}",
            targets.iter().map(|t| format!("{} FROM {}", t.table, t.files.join(", "))).collect::<Vec<_>>().join("; ")
        );
        self.check_writable(|| operation.clone())?;
        let version = self.engine.warehouse.refresh().await?;
        let inputs = load::read_files(self, &version, targets, &options.read).await?;
        load::load(self, &operation, &source, inputs, options, None).await
    }

    /// Makes the session read-only: statements that change the warehouse, write files or change
    /// the engine's settings are refused (wire clients without a writer role).
    pub fn set_read_only(&mut self, read_only: bool) {
        self.read_only = read_only;
    }

    /// An error if this session may not change the warehouse (`what` names the change).
    pub fn check_writable(&self, what: impl FnOnce() -> String) -> Result<(), EngineError> {
        if self.read_only {
            return Err(EngineError::ReadOnly { what: what() });
        }
        if let Some(version) = self.as_of() {
            return Err(EngineError::ReadsThePast { version });
        }
        Ok(())
    }

    pub fn engine(&self) -> &Arc<Engine> {
        &self.engine
    }

    /// DataFusion's context of this session, for front ends that need its settings.
    pub fn context(&self) -> &SessionContext {
        &self.ctx
    }

    /// `SHOW starhouse.<name>`: DataFusion lists its config extensions' settings without their
    /// prefix (`join_key_filters` in `information_schema.df_settings`), so its `SHOW` finds none.
    fn show_setting(&self, name: &str) -> Result<Output, EngineError> {
        let options = StarhouseOptions::of(self.ctx.state().config_options());
        let key = name.split_once('.').map_or(name, |(_, key)| key);
        let entry = options.entries().into_iter().find(|e| e.key.eq_ignore_ascii_case(key)).ok_or_else(|| {
            DataFusionError::Plan(format!("'{name}' is not a variable which can be viewed with 'SHOW'"))
        })?;
        Ok(describe::rows(vec![("name", vec![Some(name.to_ascii_lowercase())]), ("value", vec![entry.value])]))
    }

    /// Runs one statement. For queries the rows are computed as the stream is read.
    pub async fn execute(&self, statement: Statement) -> Result<Output, EngineError> {
        let version = self.engine.warehouse.refresh().await?;
        let operation = statement.to_string();
        if changes_the_warehouse(&statement) {
            self.check_writable(|| operation.clone())?;
        }
        match statement.0 {
            Parsed::SetRole { table, role } => ddl::set_role(self, &operation, &table, role).await,
            Parsed::CopyFrom(copy) => load::copy_from(self, &operation, *copy).await,
            Parsed::Restore { table, to } => history::restore(self, &operation, &ddl::table_name(&table)?, to).await,
            Parsed::Vacuum { table, retain } => {
                let table = table.as_ref().map(ddl::table_name).transpose()?;
                let retain = retain.map_or(DEFAULT_RETENTION, |r| r.duration());
                history::vacuum(self, table.as_ref(), retain).await
            }
            Parsed::Optimize { table } => history::optimize(self, &operation, &ddl::table_name(&table)?).await,
            Parsed::DataFusion(statement) => match *statement {
                DFStatement::CreateExternalTable(create) => ddl::create_external_table(self, &operation, create).await,
                DFStatement::Reset(ResetStatement::Variable(name)) if is_as_of(&name) => self.set_as_of(None).await,
                DFStatement::Statement(statement) => match *statement {
                    SQLStatement::AlterTable(alter) => ddl::alter_table(self, &operation, alter).await,
                    SQLStatement::CreateTable(create) => ddl::create_table(self, &operation, create).await,
                    SQLStatement::Insert(mut insert) => {
                        // Rows for a type 2 dimension have its declared columns; the load adds
                        // the history columns.
                        if let (TableObject::TableName(name), true) = (&insert.table, insert.columns.is_empty())
                            && let Some(def) = ddl::table_name(name).ok().and_then(|n| version.tables.get(&n).cloned())
                            && def.scd2
                        {
                            insert.columns = crate::scd::declared(&def)
                                .columns
                                .iter()
                                .map(|c| {
                                    ObjectName::from(vec![datafusion::sql::sqlparser::ast::Ident::with_quote(
                                        '"', &c.name,
                                    )])
                                })
                                .collect();
                        }
                        self.run_datafusion(DFStatement::Statement(Box::new(SQLStatement::Insert(insert)))).await
                    }
                    SQLStatement::Set(Set::SingleAssignment { variable, values, .. }) if is_as_of(&variable) => {
                        let value = match values.as_slice() {
                            [SqlExpr::Value(value)] => match &value.value {
                                SqlValue::SingleQuotedString(text) | SqlValue::Number(text, _) => text.clone(),
                                other => other.to_string(),
                            },
                            _ => values.iter().map(ToString::to_string).collect::<Vec<_>>().join(", "),
                        };
                        if value.eq_ignore_ascii_case("default") || value.eq_ignore_ascii_case("latest") {
                            return self.set_as_of(None).await;
                        }
                        let at = AsOf::parse(&value).ok_or(EngineError::InvalidAsOf { value })?;
                        self.set_as_of(Some(at)).await
                    }

                    SQLStatement::Comment { object_type, object_name, comment, if_exists } => {
                        ddl::comment(self, &operation, object_type, &object_name, comment, if_exists).await
                    }
                    SQLStatement::Drop { object_type: ObjectType::Table, if_exists, names, cascade, .. } => {
                        ddl::drop_tables(self, &operation, &names, if_exists, cascade).await
                    }
                    SQLStatement::Analyze(analyze) => ddl::analyze(self, &operation, analyze.table_name.as_ref()).await,
                    SQLStatement::ShowTables { .. } => Ok(describe::show_tables(&version)),
                    SQLStatement::ShowVariable { variable } if is_starhouse_setting(&dotted(&variable)) => {
                        self.show_setting(&dotted(&variable))
                    }
                    SQLStatement::ExplainTable { table_name, .. } => {
                        let name = ddl::table_name(&table_name)?;
                        Ok(describe::describe_table(version.table(name.as_str())?))
                    }
                    other => self.run_datafusion(DFStatement::Statement(Box::new(other))).await,
                },
                other => self.run_datafusion(other).await,
            },
        }
    }

    /// Plans a query without running it, for front ends that describe a result and its
    /// parameters (`$1`) before the parameters are bound. `None` for statements that are not
    /// queries.
    pub async fn plan_query(&self, statement: &Statement) -> Result<Option<LogicalPlan>, EngineError> {
        let Some(query @ SQLStatement::Query(_)) = statement.as_sql() else {
            return Ok(None);
        };
        self.engine.warehouse.refresh().await?;
        let statement = DFStatement::Statement(Box::new(query.clone()));
        match self.ctx.state().statement_to_plan(statement.clone()).await {
            Ok(plan) => Ok(Some(plan)),
            Err(error) => {
                self.check_table_references(&statement)?;
                Err(error.into())
            }
        }
    }

    /// Runs a plan made by [`Session::plan_query`] (with its parameters replaced by values).
    pub async fn execute_plan(&self, plan: LogicalPlan) -> Result<Output, EngineError> {
        let frame = self.ctx.execute_logical_plan(plan).await?;
        Ok(Output::Rows(frame.execute_stream().await?))
    }

    /// Parses and runs every statement in `sql`, collecting the rows of the last one. For tests,
    /// scripts and small results; front ends stream [`Session::execute`]'s output instead.
    pub async fn sql(&self, sql: &str) -> Result<Vec<RecordBatch>, EngineError> {
        let mut batches = Vec::new();
        for statement in crate::sql::parse(sql)? {
            batches = match self.execute(statement).await? {
                Output::Rows(stream) => stream.try_collect().await?,
                Output::Command(_) => Vec::new(),
            };
        }
        Ok(batches)
    }

    /// Queries, `EXPLAIN`, `SET`, `SHOW` and everything else that DataFusion answers by itself.
    async fn run_datafusion(&self, statement: DFStatement) -> Result<Output, EngineError> {
        let state = self.ctx.state();
        let plan = match state.statement_to_plan(statement.clone()).await {
            Ok(plan) => plan,
            Err(error) => {
                self.check_table_references(&statement)?;
                return Err(error.into());
            }
        };
        match &plan {
            LogicalPlan::Ddl(ddl) => {
                return Err(EngineError::unsupported(
                    ddl::ddl_statement_name(ddl),
                    "the warehouse stores tables: managed (CREATE TABLE) or over Parquet files (CREATE EXTERNAL TABLE)",
                ));
            }
            LogicalPlan::Dml(dml) if dml.op == WriteOp::Insert(InsertOp::Append) => {
                self.check_writable(|| format!("INSERT INTO {}", dml.table_name))?;
                return load::insert(self, &statement.to_string(), dml).await;
            }
            LogicalPlan::Dml(dml) => {
                return Err(EngineError::unsupported(
                    dml.op.name(),
                    "tables keep their history: rows are appended (INSERT, COPY, starhouse load), never changed in place",
                ));
            }
            LogicalPlan::Statement(PlanStatement::SetVariable(set)) => {
                // Starhouse's planner settings are the session's own; DataFusion's may reach the
                // runtime that every session shares (`datafusion.runtime.*`).
                if !is_starhouse_setting(&set.variable) {
                    self.check_writable(|| format!("SET {}", set.variable))?;
                }
                self.ctx.execute_logical_plan(plan).await?.collect().await?;
                return Ok(Output::Command("SET".into()));
            }
            LogicalPlan::Copy(copy) => self.check_writable(|| format!("COPY ... TO '{}'", copy.output_url))?,
            _ => {}
        }
        let frame = self.ctx.execute_logical_plan(plan).await?;
        Ok(Output::Rows(frame.execute_stream().await?))
    }

    /// A table named in a statement that the warehouse does not have is reported with the
    /// closest existing name, rather than as DataFusion reports it (without one).
    fn check_table_references(&self, statement: &DFStatement) -> Result<(), EngineError> {
        let version = self.engine.warehouse.current();
        for reference in self.ctx.state().resolve_table_references(statement)? {
            let ours = reference.catalog().is_none_or(|c| c == CATALOG_NAME)
                && reference.schema().is_none_or(|s| s == SCHEMA_NAME);
            // A table function (`generate_series`) is no table; its own error is the one to show.
            let function = self.ctx.table_function(reference.table()).is_ok();
            if ours && !function && !version.tables.contains_key(&TableName::new(reference.table())) {
                version.table(reference.table())?;
            }
        }
        Ok(())
    }
}
