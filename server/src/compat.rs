//! What a session needs to look like PostgreSQL to its clients: the `pg_catalog` schema and the
//! system functions they call (`version()`, `current_setting()`, `session_user`, ...).
//!
//! The static `pg_catalog` tables (types, functions, operators) and the tables built from the
//! schema (`pg_class`, `pg_attribute`, `pg_namespace`) come from `datafusion-pg-catalog`; what
//! only the warehouse knows is added here.

use std::sync::{Arc, Mutex};

use datafusion::arrow::array::{Array, AsArray, StringBuilder};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use datafusion::error::{DataFusionError, Result};
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion_pg_catalog::pg_catalog::context::EmptyContextProvider;
use starhouse_engine::{CATALOG_NAME, Session};

use crate::commands::{SERVER_VERSION, Settings};

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

/// Installs `pg_catalog` and the system functions in a session of `user`.
pub(crate) fn install(session: &Session, user: &str, settings: Arc<Mutex<Settings>>) -> Result<()> {
    let ctx = session.context();
    datafusion_pg_catalog::setup_pg_catalog(ctx, CATALOG_NAME, EmptyContextProvider).map_err(|e| *e)?;
    ctx.register_udf(constant("version", version_string()));
    ctx.register_udf(constant("session_user", user.to_string()));
    ctx.register_udf(constant("current_user", user.to_string()));
    ctx.register_udf(current_setting(settings));
    Ok(())
}
