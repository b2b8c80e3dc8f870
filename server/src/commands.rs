//! What the server answers itself, as PostgreSQL would: transaction control (`BEGIN`, `COMMIT`,
//! `SAVEPOINT`, ...) and the session's settings (`SET`, `SHOW`, `RESET`, `DISCARD`), with their
//! canonical names (`DateStyle`, `TimeZone`) and the ones clients are told about as they change.
//!
//! Settings that belong to the engine (`datafusion.*`) are not handled here.

use std::collections::BTreeMap;
use std::time::Duration;

use datafusion::arrow::array::timezone::Tz;
use datafusion::sql::sqlparser::ast::{Expr, ObjectName, Reset, Set, Statement as SQLStatement, Value, ValueWithSpan};

use crate::encode::TextOptions;
use crate::sqlstate::{self, Failure, error};

/// The PostgreSQL version clients see. psql and drivers choose their catalog queries by it.
pub(crate) const SERVER_VERSION: &str = "16.6";
const SERVER_VERSION_NUM: &str = "160006";

/// A setting: its canonical name, default, and whether a change is reported to the client
/// (`ParameterStatus`), as PostgreSQL reports these.
struct Known {
    name: &'static str,
    default: &'static str,
    reported: bool,
}

const KNOWN: &[Known] = &[
    Known { name: "application_name", default: "", reported: true },
    Known { name: "bytea_output", default: "hex", reported: false },
    Known { name: "client_encoding", default: "UTF8", reported: true },
    Known { name: "client_min_messages", default: "notice", reported: false },
    Known { name: "DateStyle", default: "ISO, MDY", reported: true },
    Known { name: "default_transaction_isolation", default: "read committed", reported: false },
    Known { name: "default_transaction_read_only", default: "off", reported: true },
    Known { name: "extra_float_digits", default: "1", reported: false },
    Known { name: "idle_in_transaction_session_timeout", default: "0", reported: false },
    Known { name: "in_hot_standby", default: "off", reported: true },
    Known { name: "integer_datetimes", default: "on", reported: true },
    Known { name: "IntervalStyle", default: "postgres", reported: true },
    Known { name: "is_superuser", default: "off", reported: true },
    Known { name: "jit", default: "off", reported: false },
    Known { name: "lc_collate", default: "C.UTF-8", reported: false },
    Known { name: "lc_ctype", default: "C.UTF-8", reported: false },
    Known { name: "lc_messages", default: "C.UTF-8", reported: false },
    Known { name: "lc_monetary", default: "C.UTF-8", reported: false },
    Known { name: "lc_numeric", default: "C.UTF-8", reported: false },
    Known { name: "lc_time", default: "C.UTF-8", reported: false },
    Known { name: "lock_timeout", default: "0", reported: false },
    Known { name: "max_identifier_length", default: "63", reported: false },
    Known { name: "max_index_keys", default: "32", reported: false },
    Known { name: "scram_iterations", default: "4096", reported: true },
    Known { name: "search_path", default: "\"$user\", public", reported: false },
    Known { name: "server_encoding", default: "UTF8", reported: true },
    Known { name: "server_version", default: SERVER_VERSION, reported: true },
    Known { name: "server_version_num", default: SERVER_VERSION_NUM, reported: false },
    Known { name: "session_authorization", default: "starhouse", reported: true },
    Known { name: "standard_conforming_strings", default: "on", reported: true },
    Known { name: "statement_timeout", default: "0", reported: false },
    Known { name: "TimeZone", default: "UTC", reported: true },
    Known { name: "transaction_isolation", default: "read committed", reported: false },
    Known { name: "transaction_read_only", default: "off", reported: false },
];

fn known(name: &str) -> Option<&'static Known> {
    KNOWN.iter().find(|k| k.name.eq_ignore_ascii_case(name))
}

/// One connection's settings.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Values that differ from the defaults, by lower-case name.
    values: BTreeMap<String, String>,
    /// The values given at startup, to which `RESET` returns.
    startup: BTreeMap<String, String>,
    pub text: TextOptions,
    pub statement_timeout: Option<Duration>,
}

/// A change of setting the client must hear about: `ParameterStatus`.
pub(crate) type Reported = Vec<(String, String)>;

impl Settings {
    /// The settings of a new connection: the defaults, then what the client gave at startup
    /// (`user`, `application_name`, `DateStyle`, ...); invalid startup values are ignored.
    pub fn new(user: &str, startup: &BTreeMap<String, String>) -> Self {
        let mut settings = Self {
            values: BTreeMap::new(),
            startup: BTreeMap::new(),
            text: TextOptions::default(),
            statement_timeout: None,
        };
        settings.values.insert("session_authorization".into(), user.to_string());
        for (name, value) in startup {
            if matches!(name.as_str(), "user" | "database" | "options" | "replication") {
                continue;
            }
            if settings.set(name, Some(value)).is_ok() {
                settings.startup.insert(name.to_ascii_lowercase(), value.clone());
            }
        }
        settings.startup.insert("session_authorization".into(), user.to_string());
        settings
    }

    /// The value of a setting, if it exists.
    pub fn get(&self, name: &str) -> Option<String> {
        let lower = name.to_ascii_lowercase();
        match lower.as_str() {
            "transaction isolation level" => return self.get("transaction_isolation"),
            "time zone" => return self.get("TimeZone"),
            _ => {}
        }
        self.values.get(&lower).cloned().or_else(|| known(name).map(|k| k.default.to_string()))
    }

    /// The canonical spelling of a setting's name (`datestyle` is `DateStyle`).
    pub fn canonical(name: &str) -> String {
        match name.to_ascii_lowercase().as_str() {
            "transaction isolation level" => "transaction_isolation".into(),
            "time zone" => "TimeZone".into(),
            lower => known(lower).map(|k| k.name.to_string()).unwrap_or_else(|| lower.to_string()),
        }
    }

    /// The settings clients are told about at startup.
    pub fn reported(&self) -> Reported {
        KNOWN
            .iter()
            .filter(|k| k.reported)
            .map(|k| (k.name.to_string(), self.get(k.name).unwrap_or_default()))
            .collect()
    }

    /// Every setting, for `SHOW ALL`: name, value.
    pub fn all(&self) -> Vec<(String, String)> {
        let mut all: BTreeMap<String, (String, String)> = KNOWN
            .iter()
            .map(|k| (k.name.to_ascii_lowercase(), (k.name.to_string(), self.get(k.name).unwrap_or_default())))
            .collect();
        for (name, value) in &self.values {
            all.entry(name.clone()).or_insert_with(|| (Self::canonical(name), value.clone()));
        }
        all.into_values().collect()
    }

    /// Sets (or with `None`, resets) a setting, checking the values the server acts on. Returns
    /// the change to report, if the setting is reported.
    pub fn set(&mut self, name: &str, value: Option<&str>) -> Result<Reported, Failure> {
        let lower = name.to_ascii_lowercase();
        let value = match value {
            Some(value) => value.to_string(),
            None => self
                .startup
                .get(&lower)
                .cloned()
                .or_else(|| known(&lower).map(|k| k.default.to_string()))
                .unwrap_or_default(),
        };
        let value = match lower.as_str() {
            "datestyle" => date_style(&value)?,
            "intervalstyle" if !value.eq_ignore_ascii_case("postgres") => {
                return Err(error(sqlstate::FEATURE_NOT_SUPPORTED, "only IntervalStyle postgres is supported"));
            }
            "timezone" => {
                let zone = time_zone(&value)?;
                self.text.time_zone = zone;
                self.text.time_zone_name = value.clone();
                value
            }
            "extra_float_digits" => {
                let digits = value.trim().parse::<i32>().ok().filter(|d| (-15..=3).contains(d)).ok_or_else(|| {
                    error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"extra_float_digits\": \"{value}\""),
                    )
                })?;
                self.text.extra_float_digits = digits;
                value
            }
            "statement_timeout" => {
                let timeout = duration(&value).ok_or_else(|| {
                    error(
                        sqlstate::INVALID_PARAMETER_VALUE,
                        format!("invalid value for parameter \"statement_timeout\": \"{value}\""),
                    )
                })?;
                self.statement_timeout = (!timeout.is_zero()).then_some(timeout);
                value
            }
            "client_encoding" => {
                if !matches!(value.to_ascii_uppercase().replace('-', "").as_str(), "UTF8" | "UNICODE") {
                    return Err(error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        format!("client encoding \"{value}\" is not supported: only UTF8"),
                    ));
                }
                "UTF8".to_string()
            }
            "server_version"
            | "server_version_num"
            | "server_encoding"
            | "integer_datetimes"
            | "max_identifier_length"
            | "max_index_keys"
            | "lc_collate"
            | "lc_ctype"
            | "in_hot_standby"
            | "is_superuser" => {
                return Err(error("55P02", format!("parameter \"{lower}\" cannot be changed")));
            }
            _ => value,
        };
        self.values.insert(lower.clone(), value.clone());
        Ok(match known(&lower) {
            Some(k) if k.reported => vec![(k.name.to_string(), value)],
            _ => Vec::new(),
        })
    }

    /// `RESET ALL`, `DISCARD ALL`: back to the startup values. Returns the changes to report.
    pub fn reset_all(&mut self) -> Reported {
        let names: Vec<String> = self.values.keys().cloned().collect();
        let mut reported = Vec::new();
        for name in names {
            // Reset values are always valid: they are defaults or accepted startup values.
            if let Ok(mut change) = self.set(&name, None) {
                reported.append(&mut change);
            }
        }
        reported
    }
}

/// `ISO`, `ISO, MDY`, `iso, dmy`: only ISO output is supported, in any field order.
fn date_style(value: &str) -> Result<String, Failure> {
    let parts: Vec<String> = value.split(',').map(|p| p.trim().to_ascii_uppercase()).collect();
    if parts.iter().any(|p| !matches!(p.as_str(), "ISO" | "MDY" | "DMY" | "YMD" | "US" | "EUROPEAN" | "NONEURO")) {
        return Err(error(
            sqlstate::FEATURE_NOT_SUPPORTED,
            format!("DateStyle \"{value}\" is not supported: dates are written in ISO style"),
        ));
    }
    let order =
        parts.iter().find(|p| matches!(p.as_str(), "MDY" | "DMY" | "YMD")).cloned().unwrap_or_else(|| "MDY".into());
    Ok(format!("ISO, {order}"))
}

fn time_zone(value: &str) -> Result<Tz, Failure> {
    let name = match value {
        v if v.eq_ignore_ascii_case("utc") || v.eq_ignore_ascii_case("gmt") || v.eq_ignore_ascii_case("z") => "+00:00",
        v => v,
    };
    name.parse().map_err(|_| {
        error(sqlstate::INVALID_PARAMETER_VALUE, format!("invalid value for parameter \"TimeZone\": \"{value}\""))
    })
}

/// `0`, `5000` (milliseconds), `5s`, `250ms`, `2min`, `1h`.
fn duration(value: &str) -> Option<Duration> {
    let value = value.trim().trim_matches('\'');
    let split = value.find(|c: char| !c.is_ascii_digit()).unwrap_or(value.len());
    let (number, unit) = value.split_at(split);
    let number: u64 = number.parse().ok()?;
    let millis = match unit.trim() {
        "" | "ms" => number,
        "s" => number * 1_000,
        "min" => number * 60_000,
        "h" => number * 3_600_000,
        "d" => number * 86_400_000,
        _ => return None,
    };
    Some(Duration::from_millis(millis))
}

/// A statement the server answers itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Command {
    Begin,
    Commit,
    Rollback,
    RollbackToSavepoint,
    Savepoint,
    ReleaseSavepoint,
    /// `SET name = value`; `None` is `DEFAULT`.
    Set {
        name: String,
        value: Option<String>,
    },
    /// Statements accepted without effect, with their tag: `SET TRANSACTION ...`,
    /// `SET SESSION CHARACTERISTICS ...`, `DEALLOCATE`.
    Accepted(&'static str),
    Show(String),
    ShowAll,
    Reset(Option<String>),
    DiscardAll,
}

/// The text of a setting's value as written in `SET`: `'ISO'`, `ISO`, `3`, `on`, `DEFAULT`.
fn setting_value(values: &[Expr]) -> Option<String> {
    let parts: Vec<String> = values
        .iter()
        .map(|value| match value {
            Expr::Value(ValueWithSpan {
                value: Value::SingleQuotedString(s) | Value::DoubleQuotedString(s), ..
            }) => s.clone(),
            Expr::Value(ValueWithSpan { value: Value::Number(n, _), .. }) => n.clone(),
            Expr::Value(ValueWithSpan { value: Value::Boolean(b), .. }) => if *b { "on" } else { "off" }.to_string(),
            Expr::Identifier(ident) => ident.value.clone(),
            Expr::UnaryOp { op, expr } => {
                format!("{op}{}", setting_value(std::slice::from_ref(expr)).unwrap_or_default())
            }
            other => other.to_string(),
        })
        .collect();
    match parts.as_slice() {
        [one] if one.eq_ignore_ascii_case("default") => None,
        _ => Some(parts.join(", ")),
    }
}

fn variable_name(name: &ObjectName) -> String {
    name.0
        .iter()
        .map(|part| part.as_ident().map(|i| i.value.clone()).unwrap_or_else(|| part.to_string()))
        .collect::<Vec<_>>()
        .join(".")
}

/// The command a statement is, when the server answers it itself. Settings of the engine
/// (`datafusion.*`, `starhouse.*`) are left to the engine.
pub(crate) fn command(statement: &SQLStatement) -> Option<Command> {
    let engine_setting = |name: &str| {
        let name = name.to_ascii_lowercase();
        name.starts_with("datafusion.") || name.starts_with("starhouse.")
    };
    Some(match statement {
        SQLStatement::StartTransaction { .. } => Command::Begin,
        SQLStatement::Commit { .. } => Command::Commit,
        SQLStatement::Rollback { savepoint: None, .. } => Command::Rollback,
        SQLStatement::Rollback { savepoint: Some(_), .. } => Command::RollbackToSavepoint,
        SQLStatement::Savepoint { .. } => Command::Savepoint,
        SQLStatement::ReleaseSavepoint { .. } => Command::ReleaseSavepoint,
        SQLStatement::Set(Set::SingleAssignment { variable, values, .. }) => {
            let name = variable_name(variable);
            if engine_setting(&name) {
                return None;
            }
            Command::Set { name, value: setting_value(values) }
        }
        SQLStatement::Set(Set::SetTimeZone { value, .. }) => {
            Command::Set { name: "TimeZone".into(), value: setting_value(std::slice::from_ref(value)) }
        }
        SQLStatement::Set(Set::SetNames { charset_name, .. }) => {
            Command::Set { name: "client_encoding".into(), value: Some(charset_name.value.clone()) }
        }
        SQLStatement::Set(Set::SetTransaction { .. } | Set::SetSessionParam(_)) => Command::Accepted("SET"),
        SQLStatement::Set(Set::SetSessionAuthorization(_) | Set::SetRole { .. }) => Command::Accepted("SET"),
        SQLStatement::ShowVariable { variable } => {
            // `SHOW a.b` comes as the words `a`, `b`, as `SHOW transaction isolation level` does.
            let words: Vec<&str> = variable.iter().map(|i| i.value.as_str()).collect();
            if engine_setting(&words.join(".")) {
                return None;
            }
            let name = words.join(" ");
            if name.eq_ignore_ascii_case("all") { Command::ShowAll } else { Command::Show(name) }
        }
        SQLStatement::Reset(reset) => match &reset.reset {
            Reset::ALL => Command::Reset(None),
            Reset::ConfigurationParameter(name) if engine_setting(&variable_name(name)) => return None,
            Reset::ConfigurationParameter(name) => Command::Reset(Some(variable_name(name))),
        },
        SQLStatement::Discard { .. } => Command::DiscardAll,
        SQLStatement::Deallocate { .. } => Command::Accepted("DEALLOCATE"),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
    use datafusion::sql::sqlparser::parser::Parser;

    use super::*;

    fn parse(sql: &str) -> Option<Command> {
        let statements = Parser::parse_sql(&PostgreSqlDialect {}, sql).expect("parses");
        command(&statements[0])
    }

    #[test]
    fn session_statements_are_recognised() {
        assert_eq!(parse("BEGIN"), Some(Command::Begin));
        assert_eq!(parse("START TRANSACTION ISOLATION LEVEL SERIALIZABLE READ ONLY"), Some(Command::Begin));
        assert_eq!(parse("END"), Some(Command::Commit));
        assert_eq!(parse("ROLLBACK TO SAVEPOINT s"), Some(Command::RollbackToSavepoint));
        assert_eq!(
            parse("SET DateStyle = 'ISO'"),
            Some(Command::Set { name: "DateStyle".into(), value: Some("ISO".into()) })
        );
        assert_eq!(
            parse("SET extra_float_digits TO 3"),
            Some(Command::Set { name: "extra_float_digits".into(), value: Some("3".into()) })
        );
        assert_eq!(
            parse("SET TIME ZONE 'Europe/Paris'"),
            Some(Command::Set { name: "TimeZone".into(), value: Some("Europe/Paris".into()) })
        );
        assert_eq!(parse("SET search_path = DEFAULT"), Some(Command::Set { name: "search_path".into(), value: None }));
        assert_eq!(
            parse("SHOW transaction isolation level"),
            Some(Command::Show("transaction isolation level".into()))
        );
        assert_eq!(parse("SET datafusion.execution.batch_size = 10"), None);
        assert_eq!(parse("SHOW starhouse.join_key_filters"), None);
        assert_eq!(parse("SELECT 1"), None);
    }

    #[test]
    fn settings_have_canonical_names_and_checked_values() {
        let mut settings =
            Settings::new("alice", &BTreeMap::from([("application_name".to_string(), "psql".to_string())]));
        assert_eq!(settings.get("datestyle").as_deref(), Some("ISO, MDY"));
        assert_eq!(Settings::canonical("datestyle"), "DateStyle");
        assert_eq!(settings.get("application_name").as_deref(), Some("psql"));
        assert_eq!(settings.get("session_authorization").as_deref(), Some("alice"));
        assert_eq!(
            settings.set("TimeZone", Some("Europe/Paris")).expect("valid"),
            vec![("TimeZone".to_string(), "Europe/Paris".to_string())]
        );
        assert!(settings.set("DateStyle", Some("German")).is_err());
        assert!(settings.set("extra_float_digits", Some("9")).is_err());
        settings.set("application_name", Some("other")).expect("valid");
        settings.reset_all();
        assert_eq!(settings.get("application_name").as_deref(), Some("psql"), "RESET returns to the startup value");
        assert_eq!(settings.get("TimeZone").as_deref(), Some("UTC"));
        assert_eq!(settings.get("transaction isolation level").as_deref(), Some("read committed"));
        settings.set("statement_timeout", Some("2s")).expect("valid");
        assert_eq!(settings.statement_timeout, Some(Duration::from_secs(2)));
    }
}
