//! One client connection: its engine session, settings and running query, and the pgwire
//! handlers that serve it (startup, simple and extended query, cancel).
//!
//! Start at [`Handler::on_query`] (the simple protocol) and [`Handler::on_execute`] (the extended
//! one); both run statements through [`Handler::run`] and stream rows through [`data_rows`], so
//! results are written batch by batch with bounded memory on both paths. A query can be canceled
//! (`CancelRequest`, `statement_timeout`) while it is planned and while its rows are streamed.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};

use async_trait::async_trait;
use datafusion::arrow::array::{RecordBatch, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use datafusion::common::ParamValues;
use datafusion::common::tree_node::{TreeNode, TreeNodeRecursion};
use datafusion::execution::SendableRecordBatchStream;
use datafusion::logical_expr::{Cast, Expr, LogicalPlan, TryCast};
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::sql::sqlparser::ast::{CopyTarget, Statement as SQLStatement};
use datafusion::sql::sqlparser::dialect::PostgreSqlDialect;
use datafusion_pg_catalog::sql::PostgresCompatibilityParser;
use futures::stream::BoxStream;
use futures::{Sink, SinkExt, StreamExt};
use pgwire::api::auth::driver::AuthOutcome;
use pgwire::api::auth::mechanism::AuthMechanismFactory;
use pgwire::api::auth::sasl::scram::ScramAuth;
use pgwire::api::auth::{
    AuthDriver, DefaultServerParameterProvider, ServerParameterProvider, StartupHandler, finish_authentication,
    protocol_negotiation, save_startup_parameters_to_metadata,
};
use pgwire::api::cancel::CancelHandler;
use pgwire::api::copy::{CopyHandler, send_copy_in_response};
use pgwire::api::portal::{Format, Portal, PortalExecutionState};
use pgwire::api::query::{ExtendedQueryHandler, SimpleQueryHandler};
use pgwire::api::results::CopyResponse;
use pgwire::api::results::{DescribePortalResponse, DescribeStatementResponse, FieldInfo, QueryResponse, Response};
use pgwire::api::stmt::{QueryParser, StoredStatement};
use pgwire::api::store::{Entry, PortalStore};
use pgwire::api::{
    ClientInfo, ClientPortalStore, DEFAULT_NAME, METADATA_USER, PgWireConnectionState, PgWireServerHandlers, Type,
};
use pgwire::error::{PgWireError, PgWireResult};
use pgwire::messages::PgWireBackendMessage;
use pgwire::messages::PgWireFrontendMessage;
use pgwire::messages::cancel::CancelRequest;
use pgwire::messages::copy::{CopyData, CopyDone, CopyFail};
use pgwire::messages::data::{DataRow, NoData, ParameterDescription};
use pgwire::messages::extendedquery::{Describe, Execute, PortalSuspended, TARGET_TYPE_BYTE_STATEMENT};
use pgwire::messages::response::{
    CommandComplete, EmptyQueryResponse, NoticeResponse, ReadyForQuery, TransactionStatus,
};
use pgwire::messages::simplequery::Query;
use pgwire::messages::startup::{ParameterStatus, SecretKey};
use starhouse_engine::sql::Statement;
use starhouse_engine::{Engine, EngineError, Output, Session};
use tokio_util::sync::CancellationToken;

use crate::auth::WarehouseUsers;
use crate::commands::{self, Command, Settings};
use crate::copy::{self, CopyOut};
use crate::copy_in::CopyIn;
use crate::cursors::{self, CursorCommand, Cursors};
use crate::encode::{self, Column, RowEncoder};
use crate::sqlstate::{self, Failure, engine_error, error, user_error};
use crate::{ServerOptions, compat, params};

/// What a cancel request names a connection by: its process id and secret.
type CancelKey = (i32, Vec<u8>);

/// What every connection of one server shares.
pub(crate) struct Shared {
    pub engine: Arc<Engine>,
    pub options: ServerOptions,
    /// Whether a client must use TLS (it is configured).
    tls_required: bool,
    users: Arc<WarehouseUsers>,
    scram: ScramAuth,
    auth: AuthDriver<DefaultServerParameterProvider>,
    active: AtomicUsize,
    next_pid: AtomicI32,
    /// Running connections by their cancel key (process id and secret).
    by_key: Mutex<HashMap<CancelKey, Weak<Connection>>>,
    compat: PostgresCompatibilityParser,
}

impl Shared {
    pub fn new(engine: Arc<Engine>, options: ServerOptions, scram: ScramAuth, users: Arc<WarehouseUsers>) -> Self {
        Self {
            engine,
            tls_required: options.tls.is_some(),
            options,
            users,
            scram,
            auth: AuthDriver::new(DefaultServerParameterProvider::default()),
            active: AtomicUsize::new(0),
            next_pid: AtomicI32::new(std::process::id() as i32 % 100_000 * 10 + 1),
            by_key: Mutex::new(HashMap::new()),
            compat: PostgresCompatibilityParser::new(),
        }
    }

    /// Parses SQL as a PostgreSQL client writes it. Queries and session statements go through
    /// the compatibility parser first: it rewrites what DataFusion cannot run as written
    /// (catalog functions, `::regclass`, `ANY(array)`) and knows a few client queries by heart.
    /// Everything else (Starhouse's and DataFusion's own statements) is parsed by the engine,
    /// with PostgreSQL's operators and casts, and rewritten the same way. Catalog tables named in
    /// `::regclass` literals are first written as their OIDs ([`compat::catalog_regclasses`]).
    pub fn parse(&self, sql: &str) -> Result<Vec<Statement>, EngineError> {
        let sql = compat::catalog_regclasses(sql);
        let sql = sql.as_ref();
        if let Ok(statements) = self.compat.parse(sql)
            && statements.iter().all(runs_as_parsed)
        {
            return Ok(statements.into_iter().map(|s| Statement::from_sql(compat::for_display(s))).collect());
        }
        let statements = starhouse_engine::sql::parse_with_dialect(sql, &PostgreSqlDialect {})?;
        Ok(statements.into_iter().map(|s| s.map_sql(|sql| compat::for_display(self.compat.rewrite(sql)))).collect())
    }
}

/// Statements that mean the same parsed as plain PostgreSQL as parsed by the engine: queries,
/// the COPYs the server streams itself, and what the server answers itself. (`COPY t FROM 'file'`
/// is a load, which the engine parses.)
fn runs_as_parsed(statement: &SQLStatement) -> bool {
    matches!(
        statement,
        SQLStatement::Query(_)
            | SQLStatement::Copy { to: true, .. }
            | SQLStatement::Copy { target: CopyTarget::Stdin, .. }
    ) || commands::command(statement).is_some()
}

/// The state of one connection, kept in its session extensions.
pub(crate) struct Connection {
    pub session: Session,
    pub settings: Arc<Mutex<Settings>>,
    /// The running query's cancellation, and whether it was the statement timeout.
    running: Mutex<(CancellationToken, Arc<AtomicBool>)>,
    cursors: Cursors,
    /// A `COPY ... FROM STDIN` receiving data.
    copy_in: Mutex<Option<CopyIn>>,
    shared: Arc<Shared>,
    key: CancelKey,
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.shared.active.fetch_sub(1, Ordering::SeqCst);
        self.shared.by_key.lock().expect("the key map lock is never poisoned").remove(&self.key);
    }
}

/// A query running on a connection: canceled by a `CancelRequest` or its timeout.
pub(crate) struct QueryGuard {
    token: CancellationToken,
    timer: Option<tokio::task::JoinHandle<()>>,
}

impl Drop for QueryGuard {
    fn drop(&mut self) {
        if let Some(timer) = self.timer.take() {
            timer.abort();
        }
    }
}

impl Connection {
    fn lock_settings(&self) -> std::sync::MutexGuard<'_, Settings> {
        self.settings.lock().expect("the settings lock is never poisoned")
    }

    /// Starts a query: from now until the guard is dropped, a cancel request or the statement
    /// timeout cancels it.
    fn begin_query(&self) -> QueryGuard {
        let token = CancellationToken::new();
        let timed_out = Arc::new(AtomicBool::new(false));
        *self.running.lock().expect("the running lock is never poisoned") = (token.clone(), Arc::clone(&timed_out));
        let timer = self.lock_settings().statement_timeout.map(|timeout| {
            let token = token.clone();
            tokio::spawn(async move {
                tokio::time::sleep(timeout).await;
                timed_out.store(true, Ordering::SeqCst);
                token.cancel();
            })
        });
        QueryGuard { token, timer }
    }

    /// The token of the query running now (a fresh one if none is).
    pub(crate) fn current(&self) -> (CancellationToken, Arc<AtomicBool>) {
        self.running.lock().expect("the running lock is never poisoned").clone()
    }

    fn cancel(&self) {
        self.current().0.cancel();
    }

    pub(crate) fn canceled_error(&self) -> Failure {
        sqlstate::canceled(self.current().1.load(Ordering::SeqCst))
    }
}

fn connection<C: ClientInfo>(client: &C) -> PgWireResult<Arc<Connection>> {
    client
        .session_extensions()
        .get::<Connection>()
        .ok_or_else(|| user_error(sqlstate::PROTOCOL_VIOLATION, "the connection has not completed its startup"))
}

/// The rows of a result, encoded batch by batch as they are computed, until the stream ends or
/// the connection's running query is canceled.
pub(crate) fn data_rows(
    connection: Arc<Connection>,
    stream: SendableRecordBatchStream,
    encoder: RowEncoder,
) -> BoxStream<'static, PgWireResult<DataRow>> {
    let state = (connection, stream, encoder, std::collections::VecDeque::<DataRow>::new(), false);
    futures::stream::unfold(state, |(connection, mut stream, encoder, mut rows, done)| async move {
        loop {
            if let Some(row) = rows.pop_front() {
                return Some((Ok(row), (connection, stream, encoder, rows, done)));
            }
            if done {
                return None;
            }
            let (token, _) = connection.current();
            let next = tokio::select! {
                biased;
                _ = token.cancelled() => {
                    let error = PgWireError::UserError(connection.canceled_error());
                    return Some((Err(error), (connection, stream, encoder, rows, true)));
                }
                next = stream.next() => next,
            };
            match next {
                None => return None,
                Some(Err(e)) => {
                    let error = PgWireError::UserError(engine_error(&EngineError::from(e), ""));
                    return Some((Err(error), (connection, stream, encoder, rows, true)));
                }
                Some(Ok(batch)) => match encoder.encode(&batch) {
                    Ok(encoded) => rows.extend(encoded),
                    Err(e) => {
                        let error = PgWireError::UserError(engine_error(&EngineError::from(e), ""));
                        return Some((Err(error), (connection, stream, encoder, rows, true)));
                    }
                },
            }
        }
    })
    .boxed()
}

/// What a statement answers.
pub(crate) enum Outcome {
    /// Rows, with the command tag that counts them (`SELECT`, `SHOW`, `EXPLAIN`).
    Rows { stream: SendableRecordBatchStream, tag: &'static str },
    /// A command's tag, with the warnings to send before it and the settings it changed, to
    /// report after it.
    Tag { tag: String, warnings: Vec<&'static str>, reported: commands::Reported },
    /// `COPY ... TO STDOUT`.
    Copy(CopyOut),
    /// `COPY ... FROM STDIN`, ready for the client's data.
    CopyIn(CopyIn),
}

/// A single-column result of text values (SHOW).
fn text_rows(columns: &[&str], rows: Vec<Vec<String>>) -> SendableRecordBatchStream {
    let schema =
        Arc::new(Schema::new(columns.iter().map(|c| Field::new(*c, DataType::Utf8, true)).collect::<Vec<_>>()));
    let arrays = (0..columns.len())
        .map(|i| Arc::new(StringArray::from(rows.iter().map(|r| r[i].clone()).collect::<Vec<_>>())) as _)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays).expect("columns of equal length and declared type");
    Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter([Ok(batch)])))
}

/// A prepared statement of the extended protocol.
#[derive(Debug)]
pub(crate) struct Prepared {
    sql: String,
    statement: Statement,
    /// The plan of a query, with its parameters as placeholders.
    plan: Option<LogicalPlan>,
    /// The result's columns where no plan describes them (an always-empty catalog query, a
    /// `FETCH` from a cursor).
    described: Option<SchemaRef>,
    /// The types the plan expects for `$1`, `$2`, ... (`None` where it does not say), found
    /// once, for every `Describe` and `Bind` after.
    parameter_types: Vec<Option<DataType>>,
}

/// The types `plan` expects for `$1`, `$2`, ... (`None` where it does not say).
fn parameter_types(plan: &LogicalPlan) -> Vec<Option<DataType>> {
    let mut types = plan.get_parameter_types().unwrap_or_default();
    // DataFusion infers a placeholder's type from what it is compared with; PostgreSQL also
    // from a cast (`$1::int`), which drivers rely on.
    let _ = plan.apply_with_subqueries(|node| {
        node.apply_expressions(|expr| {
            expr.apply(|e| {
                if let Expr::Cast(Cast { expr, field }) | Expr::TryCast(TryCast { expr, field }) = e
                    && let Expr::Placeholder(placeholder) = expr.as_ref()
                    && let Some(slot @ None) = types.get_mut(&placeholder.id)
                {
                    *slot = Some(field.data_type().clone());
                }
                Ok(TreeNodeRecursion::Continue)
            })
        })
    });
    let count = types.keys().filter_map(|k| k.trim_start_matches('$').parse::<usize>().ok()).max().unwrap_or(0);
    (1..=count).map(|i| types.get(&format!("${i}")).cloned().flatten()).collect()
}

impl Prepared {
    fn new(sql: &str, statement: Statement, plan: Option<LogicalPlan>, described: Option<SchemaRef>) -> Self {
        let parameter_types = plan.as_ref().map(parameter_types).unwrap_or_default();
        Self { sql: sql.to_string(), statement, plan, described, parameter_types }
    }

    /// The result's fields, in `formats` (a `Bind`'s result formats).
    fn fields(&self, formats: &[i16]) -> Vec<Column> {
        if let Some(schema) = &self.described {
            return encode::columns(schema.fields(), formats);
        }
        if self.statement.as_sql().and_then(cursors::command).is_some() {
            // `DECLARE` (whose plan is its query's) and `CLOSE` answer no rows.
            return Vec::new();
        }
        let names = self.statement.as_sql().and_then(compat::column_names);
        match (&self.plan, self.statement.as_sql().and_then(commands::command)) {
            (Some(plan), _) => {
                let schema = compat::renamed(plan.schema().inner(), names.as_deref());
                encode::columns(schema.fields(), formats)
            }
            (None, Some(Command::Show(name))) => {
                encode::columns(&[Arc::new(Field::new(Settings::canonical(&name), DataType::Utf8, true))], formats)
            }
            (None, Some(Command::ShowAll)) => encode::columns(
                &["name", "setting", "description"].map(|c| Arc::new(Field::new(c, DataType::Utf8, true))),
                formats,
            ),
            _ => Vec::new(),
        }
    }
}

/// The format codes of a `Format`, as the client sent them.
fn format_codes(format: &Format) -> Vec<i16> {
    match format {
        Format::UnifiedText => Vec::new(),
        Format::UnifiedBinary => vec![1],
        Format::Individual(codes) => codes.clone(),
    }
}

fn field_infos(columns: &[Column]) -> Vec<FieldInfo> {
    columns
        .iter()
        .map(|c| FieldInfo::new(c.name.clone(), None, None, c.pg_type.clone(), c.format).with_type_modifier(c.typmod))
        .collect()
}

/// Whether `statement` is a `SHOW` that the engine answers rather than the server.
fn engine_show(statement: &SQLStatement) -> bool {
    matches!(statement, SQLStatement::ShowVariable { .. } | SQLStatement::ShowTables { .. })
        && commands::command(statement).is_none()
}

/// Statements that end a transaction, which a failed transaction still accepts.
fn ends_transaction(statement: &Statement) -> bool {
    matches!(
        statement.as_sql().and_then(commands::command),
        Some(Command::Commit | Command::Rollback | Command::RollbackToSavepoint)
    )
}

/// The server parameters a client hears at startup.
struct Reported(Vec<(String, String)>);

impl ServerParameterProvider for Reported {
    fn server_parameters<C: ClientInfo>(&self, _client: &C) -> Option<HashMap<String, String>> {
        Some(self.0.iter().cloned().collect())
    }
}

/// The handlers of one server: one value serves every connection.
#[derive(Clone)]
pub(crate) struct Handler {
    pub shared: Arc<Shared>,
}

impl PgWireServerHandlers for Handler {
    fn simple_query_handler(&self) -> Arc<impl SimpleQueryHandler> {
        Arc::new(self.clone())
    }

    fn copy_handler(&self) -> Arc<impl CopyHandler> {
        Arc::new(self.clone())
    }

    fn extended_query_handler(&self) -> Arc<impl ExtendedQueryHandler> {
        Arc::new(self.clone())
    }

    fn startup_handler(&self) -> Arc<impl StartupHandler> {
        Arc::new(self.clone())
    }

    fn cancel_handler(&self) -> Arc<impl CancelHandler> {
        Arc::new(self.clone())
    }
}

async fn notice<C>(client: &mut C, message: &str) -> PgWireResult<()>
where
    C: Sink<PgWireBackendMessage> + Unpin + Send,
    C::Error: Debug,
    PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
{
    let mut info = error("01000", message);
    info.severity = "WARNING".into();
    client.feed(PgWireBackendMessage::NoticeResponse(NoticeResponse::from(*info))).await?;
    Ok(())
}

#[async_trait]
impl StartupHandler for Handler {
    /// Startup: TLS when the server requires it, then SCRAM when the warehouse has users (trust
    /// only on loopback when it has none), then the connection's session.
    async fn on_startup<C>(&self, client: &mut C, message: PgWireFrontendMessage) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let shared = &self.shared;
        match message {
            PgWireFrontendMessage::Startup(startup) => {
                protocol_negotiation(client, &startup).await?;
                save_startup_parameters_to_metadata(client, &startup);
                let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                if shared.tls_required && !client.is_secure() {
                    return Err(fatal(
                        sqlstate::INVALID_AUTHORIZATION,
                        format!("no encryption: the server accepts user \"{user}\" only over TLS (sslmode=require)"),
                    ));
                }
                if shared.users.any().await? {
                    let begun = shared.auth.begin_authentication(client, shared.scram.create()).await;
                    return begun.map(drop).map_err(|e| refused(e, &user));
                }
                if !shared.options.listen.ip().is_loopback() {
                    return Err(fatal(
                        sqlstate::INVALID_AUTHORIZATION,
                        "the warehouse has no users, and only loopback clients are trusted",
                    ));
                }
                self.open(client, false).await
            }
            PgWireFrontendMessage::PasswordMessageFamily(message) => {
                let name = client.metadata().get(METADATA_USER).cloned().unwrap_or_default();
                match shared.auth.advance_authentication(client, message).await.map_err(|e| refused(e, &name))? {
                    AuthOutcome::InProgress => Ok(()),
                    AuthOutcome::Authenticated { final_message, .. } => {
                        if let Some(last) = final_message {
                            client.feed(PgWireBackendMessage::Authentication(last)).await?;
                        }
                        let writer = shared.users.user(&name).await?.is_some_and(|u| u.writer);
                        self.open(client, writer).await
                    }
                }
            }
            _ => Ok(()),
        }
    }
}

/// A failed sign-in in PostgreSQL's words, naming the user of the startup message (SCRAM's own
/// messages carry no user name; libpq sends none).
fn refused(error: PgWireError, user: &str) -> PgWireError {
    match error {
        PgWireError::InvalidPassword(_) => {
            fatal(sqlstate::INVALID_PASSWORD, format!("password authentication failed for user \"{user}\""))
        }
        other => other,
    }
}

fn fatal(code: &str, message: impl Into<String>) -> PgWireError {
    let mut info = error(code, message);
    info.severity = "FATAL".into();
    PgWireError::UserError(info)
}

impl Handler {
    /// Opens an authenticated client's connection (a `writer` may change the warehouse) and
    /// tells it so, unless the server is full.
    async fn open<C>(&self, client: &mut C, writer: bool) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let shared = &self.shared;
        if shared.active.fetch_add(1, Ordering::SeqCst) >= shared.options.max_connections {
            shared.active.fetch_sub(1, Ordering::SeqCst);
            return Err(fatal(sqlstate::TOO_MANY_CONNECTIONS, "sorry, too many clients already"));
        }
        let pid = shared.next_pid.fetch_add(1, Ordering::SeqCst);
        let secret = SecretKey::I32(rand::random::<i32>());
        let key = (pid, secret.to_bytes().to_vec());
        client.set_pid_and_secret_key(pid, secret);

        let user = client.metadata().get(METADATA_USER).cloned().unwrap_or_else(|| "starhouse".into());
        let startup_settings: BTreeMap<String, String> =
            client.metadata().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let settings = Settings::new(&user, &startup_settings);
        let reported = Reported(settings.reported());
        let settings = Arc::new(Mutex::new(settings));
        let mut session = shared.engine.session();
        session.set_read_only(!(shared.options.allow_writes || writer));
        let connection = Connection {
            session,
            settings: Arc::clone(&settings),
            running: Mutex::new((CancellationToken::new(), Arc::new(AtomicBool::new(false)))),
            cursors: Cursors::default(),
            copy_in: Mutex::new(None),
            shared: Arc::clone(shared),
            key: key.clone(),
        };
        compat::install(&connection.session, &user, settings)
            .map_err(|e| user_error(sqlstate::INTERNAL_ERROR, e.to_string()))?;
        client.session_extensions().insert(connection);
        let registered = connection_weak(client);
        shared.by_key.lock().expect("the key map lock is never poisoned").insert(key, registered);
        finish_authentication(client, &reported).await
    }
}

fn connection_weak<C: ClientInfo>(client: &C) -> Weak<Connection> {
    client.session_extensions().get::<Connection>().as_ref().map(Arc::downgrade).unwrap_or_default()
}

#[async_trait]
impl CancelHandler for Handler {
    async fn on_cancel_request(&self, request: CancelRequest) {
        let key = (request.pid, request.secret_key.to_bytes().to_vec());
        let connection = self.shared.by_key.lock().expect("the key map lock is never poisoned").get(&key).cloned();
        // An unknown or mismatched key is ignored, as PostgreSQL does.
        if let Some(connection) = connection.and_then(|c| c.upgrade()) {
            connection.cancel();
        }
    }
}

impl Handler {
    /// Runs one statement, answering the session commands itself. Transaction state and
    /// reported settings are updated on `client`.
    async fn run<C>(
        &self,
        client: &mut C,
        connection: &Arc<Connection>,
        statement: Statement,
        sql: &str,
        prepared_plan: Option<LogicalPlan>,
    ) -> Result<Outcome, Failure>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let status = client.transaction_status();
        if status == TransactionStatus::Error && !ends_transaction(&statement) {
            return Err(sqlstate::in_failed_transaction());
        }
        if let Some(command) = statement.as_sql().and_then(commands::command) {
            return self.command(client, connection, command);
        }
        if let Some(command) = statement.as_sql().and_then(cursors::command) {
            return self.cursor(client, connection, command?, sql, prepared_plan).await;
        }
        if let Some(copy) = statement.as_sql().and_then(starhouse_engine::copy_from_stdin) {
            let (table, read) = copy.map_err(|e| engine_error(&e, sql))?;
            let session = &connection.session;
            session.check_writable(|| format!("COPY {table} FROM STDIN")).map_err(|e| engine_error(&e, sql))?;
            let version = session.engine().warehouse().refresh().await.map_err(|e| engine_error(&e.into(), sql))?;
            let def = version.table(&table).map_err(|e| engine_error(&e.into(), sql))?;
            let columns = if read.columns.is_empty() { def.columns.len() } else { read.columns.len() };
            let copy = CopyIn::start(table, read, columns)
                .map_err(|e| sqlstate::error(sqlstate::INTERNAL_ERROR, format!("cannot spool COPY data: {e}")))?;
            return Ok(Outcome::CopyIn(copy));
        }
        if let Some(copy) = statement.as_sql().and_then(copy::copy_out) {
            let copy = copy?;
            let guard = connection.begin_query();
            let stream = self.guarded(connection, &guard, self.copy_source(connection, &copy.query, sql), sql).await?;
            drop(guard);
            return Ok(Outcome::Copy(copy.with_stream(stream)));
        }
        let tag = match statement.as_sql() {
            Some(SQLStatement::Explain { .. } | SQLStatement::ExplainTable { .. }) => "EXPLAIN",
            Some(SQLStatement::ShowTables { .. } | SQLStatement::ShowVariable { .. }) => "SHOW",
            _ => "SELECT",
        };
        let names = statement.as_sql().and_then(compat::column_names);
        let empty = statement.as_sql().and_then(compat::empty_answer);
        let guard = connection.begin_query();
        let session = &connection.session;
        let output = match prepared_plan {
            Some(plan) => self.guarded(connection, &guard, session.execute_plan(plan), sql).await,
            None => self.guarded(connection, &guard, session.execute(statement), sql).await,
        };
        let output = match (output, empty) {
            (Ok(output), _) => output,
            // A client's question about catalogs that are always empty: no rows.
            (Err(_), Some(schema)) => {
                Output::Rows(Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::empty())))
            }
            (Err(error), None) => return Err(error),
        };
        Ok(match output {
            Output::Rows(stream) => Outcome::Rows { stream: compat::rename(stream, names.as_deref()), tag },
            Output::Command(tag) => Outcome::Tag { tag, warnings: Vec::new(), reported: Vec::new() },
        })
    }

    /// Runs `work` unless the query is canceled first.
    async fn guarded<T>(
        &self,
        connection: &Connection,
        guard: &QueryGuard,
        work: impl std::future::Future<Output = Result<T, EngineError>>,
        sql: &str,
    ) -> Result<T, Failure> {
        tokio::select! {
            biased;
            _ = guard.token.cancelled() => Err(connection.canceled_error()),
            result = work => result.map_err(|e| engine_error(&e, sql)),
        }
    }

    /// The rows a `COPY ... TO STDOUT` writes.
    async fn copy_source(
        &self,
        connection: &Connection,
        query: &str,
        sql: &str,
    ) -> Result<SendableRecordBatchStream, EngineError> {
        let statements = self.shared.parse(query)?;
        let [statement] = <[Statement; 1]>::try_from(statements).map_err(|_| EngineError::Syntax {
            message: format!("COPY needs one query: {sql}"),
            line: None,
            column: None,
        })?;
        match connection.session.execute(statement).await? {
            Output::Rows(stream) => Ok(stream),
            Output::Command(tag) => Err(EngineError::Unsupported { what: format!("COPY of {tag}"), hint: None }),
        }
    }

    fn command<C: ClientInfo>(
        &self,
        client: &mut C,
        connection: &Connection,
        command: Command,
    ) -> Result<Outcome, Failure> {
        let status = client.transaction_status();
        let mut warnings = Vec::new();
        let mut reported = Vec::new();
        let tag = match command {
            Command::Begin => {
                if status != TransactionStatus::Idle {
                    warnings.push("there is already a transaction in progress");
                }
                client.set_transaction_status(status.to_in_transaction_state());
                "BEGIN"
            }
            Command::Commit | Command::Rollback => {
                if status == TransactionStatus::Idle {
                    warnings.push("there is no transaction in progress");
                }
                client.set_transaction_status(TransactionStatus::Idle);
                connection.cursors.end_transaction();
                if command == Command::Commit && status != TransactionStatus::Error { "COMMIT" } else { "ROLLBACK" }
            }
            Command::RollbackToSavepoint | Command::Savepoint | Command::ReleaseSavepoint => {
                if status == TransactionStatus::Idle {
                    let name = match command {
                        Command::Savepoint => "SAVEPOINT",
                        Command::ReleaseSavepoint => "RELEASE SAVEPOINT",
                        _ => "ROLLBACK TO SAVEPOINT",
                    };
                    return Err(error("25P01", format!("{name} can only be used in transaction blocks")));
                }
                match command {
                    Command::RollbackToSavepoint => {
                        client.set_transaction_status(TransactionStatus::Transaction);
                        "ROLLBACK"
                    }
                    Command::Savepoint => "SAVEPOINT",
                    _ => "RELEASE",
                }
            }
            Command::Set { name, value } => {
                reported = connection.lock_settings().set(&name, value.as_deref())?;
                "SET"
            }
            Command::Reset(name) => {
                reported = match name {
                    Some(name) => connection.lock_settings().set(&name, None)?,
                    None => connection.lock_settings().reset_all(),
                };
                "RESET"
            }
            Command::DiscardAll => {
                reported = connection.lock_settings().reset_all();
                "DISCARD ALL"
            }
            Command::Accepted(tag) => tag,
            Command::Show(name) => {
                let value = connection.lock_settings().get(&name).ok_or_else(|| {
                    error(sqlstate::UNDEFINED_OBJECT, format!("unrecognized configuration parameter \"{name}\""))
                })?;
                let column = Settings::canonical(&name);
                return Ok(Outcome::Rows { stream: text_rows(&[column.as_str()], vec![vec![value]]), tag: "SHOW" });
            }
            Command::ShowAll => {
                let rows =
                    connection.lock_settings().all().into_iter().map(|(n, v)| vec![n, v, String::new()]).collect();
                return Ok(Outcome::Rows { stream: text_rows(&["name", "setting", "description"], rows), tag: "SHOW" });
            }
        };
        Ok(Outcome::Tag { tag: tag.to_string(), warnings, reported })
    }

    /// `DECLARE`, `FETCH` and `CLOSE`. A declared query starts now (with the prepared plan's
    /// parameters, in the extended protocol) and is read as it is fetched.
    async fn cursor<C: ClientInfo>(
        &self,
        client: &mut C,
        connection: &Connection,
        command: CursorCommand,
        sql: &str,
        prepared_plan: Option<LogicalPlan>,
    ) -> Result<Outcome, Failure> {
        let tag = |tag: &str| Outcome::Tag { tag: tag.to_string(), warnings: Vec::new(), reported: Vec::new() };
        match command {
            CursorCommand::Declare { name, query, hold } => {
                if !hold && client.transaction_status() == TransactionStatus::Idle {
                    return Err(error("25P01", "DECLARE CURSOR can only be used in transaction blocks"));
                }
                let names = query.as_sql().and_then(compat::column_names);
                let guard = connection.begin_query();
                let session = &connection.session;
                let output = match prepared_plan {
                    Some(plan) => self.guarded(connection, &guard, session.execute_plan(plan), sql).await?,
                    None => self.guarded(connection, &guard, session.execute(query), sql).await?,
                };
                let Output::Rows(stream) = output else {
                    return Err(error(sqlstate::SYNTAX_ERROR, "a cursor is declared for a query"));
                };
                connection.cursors.declare(name, compat::rename(stream, names.as_deref()), hold)?;
                Ok(tag("DECLARE CURSOR"))
            }
            CursorCommand::Fetch { name, count } => {
                let guard = connection.begin_query();
                let stream = tokio::select! {
                    biased;
                    _ = guard.token.cancelled() => Err(connection.canceled_error()),
                    stream = connection.cursors.fetch(&name, count) => stream,
                }?;
                Ok(Outcome::Rows { stream, tag: "FETCH" })
            }
            CursorCommand::Close(name) => {
                connection.cursors.close(name.as_deref())?;
                Ok(tag("CLOSE CURSOR"))
            }
        }
    }

    /// A command's warnings, tag and reported settings.
    async fn send_tag<C>(
        client: &mut C,
        tag: String,
        warnings: Vec<&'static str>,
        reported: commands::Reported,
    ) -> PgWireResult<()>
    where
        C: Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        for warning in warnings {
            notice(client, warning).await?;
        }
        client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(tag))).await?;
        for (name, value) in reported {
            client.feed(PgWireBackendMessage::ParameterStatus(ParameterStatus::new(name, value))).await?;
        }
        Ok(())
    }

    /// Sends a result's rows (with their description for the simple protocol) and its tag.
    async fn send_rows<C>(
        &self,
        client: &mut C,
        connection: &Arc<Connection>,
        stream: SendableRecordBatchStream,
        tag: &str,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let columns = encode::columns(stream.schema().fields(), &[]);
        client.feed(PgWireBackendMessage::RowDescription(encode::row_description(&columns))).await?;
        let encoder = RowEncoder::new(&columns, connection.lock_settings().text.clone());
        let _guard = connection.begin_query();
        let mut rows = data_rows(Arc::clone(connection), stream, encoder);
        let mut count = 0usize;
        while let Some(row) = rows.next().await {
            client.feed(PgWireBackendMessage::DataRow(row?)).await?;
            count += 1;
        }
        client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(format!("{tag} {count}")))).await?;
        Ok(())
    }
}

#[async_trait]
impl CopyHandler for Handler {
    async fn on_copy_data<C>(&self, client: &mut C, copy_data: CopyData) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection(client)?;
        let mut copy = connection.copy_in.lock().expect("the copy lock is never poisoned");
        let Some(copy) = copy.as_mut() else {
            return Err(user_error(sqlstate::PROTOCOL_VIOLATION, "CopyData without a COPY FROM STDIN"));
        };
        copy.write(&copy_data.data)
            .map_err(|e| user_error(sqlstate::INTERNAL_ERROR, format!("cannot spool COPY data: {e}")))
    }

    async fn on_copy_done<C>(&self, client: &mut C, _done: CopyDone) -> PgWireResult<()>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let connection = connection(client)?;
        let copy = connection.copy_in.lock().expect("the copy lock is never poisoned").take();
        let Some(copy) = copy else {
            return Err(user_error(sqlstate::PROTOCOL_VIOLATION, "CopyDone without a COPY FROM STDIN"));
        };
        let rows = copy.finish(&connection.session).await.map_err(PgWireError::UserError)?;
        client.send(PgWireBackendMessage::CommandComplete(CommandComplete::new(format!("COPY {rows}")))).await?;
        Ok(())
    }

    async fn on_copy_fail<C>(&self, client: &mut C, fail: CopyFail) -> PgWireError
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if let Ok(connection) = connection(client)
            && let Some(copy) = connection.copy_in.lock().expect("the copy lock is never poisoned").take()
        {
            copy.discard();
        }
        user_error(sqlstate::QUERY_CANCELED, format!("COPY from stdin failed: {}", fail.message))
    }
}

#[async_trait]
impl SimpleQueryHandler for Handler {
    async fn on_query<C>(&self, client: &mut C, query: Query) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        client.set_state(PgWireConnectionState::QueryInProgress);
        let connection = connection(client)?;
        let sql = query.query;
        let result = self.simple(client, &connection, &sql).await;
        if matches!(client.state(), PgWireConnectionState::CopyInProgress(_)) {
            // Ready for the next query once the copy is done (see the CopyHandler).
            client.flush().await?;
            return result.map(|_| ());
        }
        client.set_state(PgWireConnectionState::ReadyForQuery);
        if let Err(info) = result? {
            client.feed(PgWireBackendMessage::ErrorResponse((*info).into())).await?;
            client.set_transaction_status(client.transaction_status().to_error_state());
        }
        let status = client.transaction_status();
        client.send(PgWireBackendMessage::ReadyForQuery(ReadyForQuery::new(status))).await?;
        Ok(())
    }

    async fn do_query<C>(&self, _client: &mut C, _query: &str) -> PgWireResult<Vec<Response>>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(user_error(sqlstate::INTERNAL_ERROR, "queries are answered by on_query"))
    }
}

impl Handler {
    /// The statements of one simple `Query`, in order, until one fails. The outer error is the
    /// connection's (the client is gone); the inner one is the statement's.
    async fn simple<C>(
        &self,
        client: &mut C,
        connection: &Arc<Connection>,
        sql: &str,
    ) -> PgWireResult<Result<(), Failure>>
    where
        C: ClientInfo + Sink<PgWireBackendMessage> + Unpin + Send,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let statements = match self.shared.parse(sql) {
            Ok(statements) => statements,
            Err(e) => return Ok(Err(engine_error(&e, sql))),
        };
        if statements.is_empty() {
            client.feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
            return Ok(Ok(()));
        }
        for statement in statements {
            match self.run(client, connection, statement, sql, None).await {
                Ok(Outcome::Tag { tag, warnings, reported }) => Self::send_tag(client, tag, warnings, reported).await?,
                Ok(Outcome::Rows { stream, tag }) => match self.send_rows(client, connection, stream, tag).await {
                    Ok(()) => {}
                    Err(PgWireError::UserError(info)) => return Ok(Err(info)),
                    Err(other) => return Err(other),
                },
                Ok(Outcome::Copy(copy)) => {
                    let _guard = connection.begin_query();
                    match copy::send(client, Arc::clone(connection), copy).await {
                        Ok(()) => {}
                        Err(PgWireError::UserError(info)) => return Ok(Err(info)),
                        Err(other) => return Err(other),
                    }
                }
                Ok(Outcome::CopyIn(copy)) => {
                    // The client sends the data next; the copy handler takes it from here (and
                    // statements after the COPY in the same query are not run, as in PostgreSQL).
                    let columns = copy.columns;
                    *connection.copy_in.lock().expect("the copy lock is never poisoned") = Some(copy);
                    send_copy_in_response(client, CopyResponse::new(0, columns, futures::stream::empty())).await?;
                    client.set_state(PgWireConnectionState::CopyInProgress(false));
                    return Ok(Ok(()));
                }
                Err(info) => return Ok(Err(info)),
            }
        }
        Ok(Ok(()))
    }
}

#[async_trait]
impl QueryParser for Handler {
    type Statement = Arc<Prepared>;

    async fn parse_sql<C>(&self, client: &C, sql: &str, types: &[Option<Type>]) -> PgWireResult<Option<Self::Statement>>
    where
        C: ClientInfo + Unpin + Send + Sync,
    {
        let connection = connection(client)?;
        let statements = self.shared.parse(sql).map_err(|e| PgWireError::UserError(engine_error(&e, sql)))?;
        let mut statements = statements.into_iter();
        let (Some(statement), None) = (statements.next(), statements.next()) else {
            return Err(user_error(
                sqlstate::SYNTAX_ERROR,
                "cannot insert multiple commands into a prepared statement",
            ));
        };
        if client.transaction_status() == TransactionStatus::Error && !ends_transaction(&statement) {
            return Err(PgWireError::UserError(sqlstate::in_failed_transaction()));
        }
        let sql_statement = statement.as_sql();
        if let Some(Ok(CursorCommand::Fetch { name, .. })) = sql_statement.and_then(cursors::command) {
            let described = connection.cursors.schema(&name);
            return Ok(Some(Arc::new(Prepared::new(sql, statement, None, described))));
        }
        // A cursor's parameters are its query's.
        let planned =
            params::declare(sql_statement.and_then(cursors::declared_query).unwrap_or(statement.clone()), types);
        let (plan, described) = match connection.session.plan_query(&planned).await {
            // A `SHOW` the engine answers (`SHOW TABLES`, `SHOW starhouse.x`) is no query to plan:
            // its columns are those of its answer, which reads nothing but settings and the catalog.
            Ok(None) if sql_statement.is_some_and(engine_show) => {
                let shown = match connection.session.execute(statement.clone()).await {
                    Ok(Output::Rows(rows)) => Some(rows.schema()),
                    Ok(Output::Command(_)) => None,
                    Err(error) => return Err(PgWireError::UserError(engine_error(&error, sql))),
                };
                (None, shown)
            }
            Ok(plan) => (plan, None),
            Err(error) => match sql_statement.and_then(compat::empty_answer) {
                Some(schema) => (None, Some(schema)),
                None => return Err(PgWireError::UserError(engine_error(&error, sql))),
            },
        };
        Ok(Some(Arc::new(Prepared::new(sql, statement, plan, described))))
    }

    fn get_parameter_types(&self, statement: &Self::Statement) -> PgWireResult<Vec<Type>> {
        Ok(statement.parameter_types.iter().map(|t| t.as_ref().map_or(Type::TEXT, |t| encode::pg_type(t).0)).collect())
    }

    fn get_result_schema(&self, statement: &Self::Statement, format: Option<&Format>) -> PgWireResult<Vec<FieldInfo>> {
        Ok(field_infos(&statement.fields(&format.map(format_codes).unwrap_or_default())))
    }
}

#[async_trait]
impl ExtendedQueryHandler for Handler {
    type Statement = Arc<Prepared>;
    type QueryParser = Handler;

    fn query_parser(&self) -> Arc<Self::QueryParser> {
        Arc::new(self.clone())
    }

    async fn on_describe<C>(&self, client: &mut C, message: Describe) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if message.target_type != TARGET_TYPE_BYTE_STATEMENT {
            // A cursor declared in SQL is a portal too (psycopg describes it by name).
            let cursor = match &message.name {
                Some(name) if client.portal_store().get_portal(name).is_none() => {
                    connection(client)?.cursors.schema(name)
                }
                _ => None,
            };
            let Some(schema) = cursor else {
                return self._on_describe(client, message).await;
            };
            let columns = encode::columns(schema.fields(), &[]);
            client.send(PgWireBackendMessage::RowDescription(encode::row_description(&columns))).await?;
            return Ok(());
        }
        // A statement is described with its parameters, then its row description or NoData.
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let (parameters, columns) = match client.portal_store().get_statement(name) {
            Some(Entry::Value(stored)) => {
                let inferred = self.get_parameter_types(&stored.statement)?;
                let count = inferred.len().max(stored.parameter_types.len());
                let parameters: Vec<u32> = (0..count)
                    .map(|i| {
                        stored
                            .parameter_types
                            .get(i)
                            .cloned()
                            .flatten()
                            .filter(|t| *t != Type::UNKNOWN)
                            .or_else(|| inferred.get(i).cloned())
                            .unwrap_or(Type::TEXT)
                            .oid()
                    })
                    .collect();
                (parameters, stored.statement.fields(&[]))
            }
            Some(Entry::Empty) => (Vec::new(), Vec::new()),
            None => return Err(PgWireError::StatementNotFound(name.to_string())),
        };
        client.send(PgWireBackendMessage::ParameterDescription(ParameterDescription::new(parameters))).await?;
        if columns.is_empty() {
            client.send(PgWireBackendMessage::NoData(NoData::new())).await?;
        } else {
            client.send(PgWireBackendMessage::RowDescription(encode::row_description(&columns))).await?;
        }
        Ok(())
    }

    async fn do_describe_statement<C>(
        &self,
        _client: &mut C,
        target: &StoredStatement<Self::Statement>,
    ) -> PgWireResult<DescribeStatementResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let parameters = self.get_parameter_types(&target.statement)?;
        Ok(DescribeStatementResponse::new(parameters, field_infos(&target.statement.fields(&[]))))
    }

    async fn do_describe_portal<C>(
        &self,
        _client: &mut C,
        portal: &Portal<Self::Statement>,
    ) -> PgWireResult<DescribePortalResponse>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let formats = format_codes(&portal.result_column_format);
        Ok(DescribePortalResponse::new(field_infos(&portal.statement.statement.fields(&formats))))
    }

    async fn on_execute<C>(&self, client: &mut C, message: Execute) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        if !matches!(client.state(), PgWireConnectionState::ReadyForQuery) {
            return Err(PgWireError::NotReadyForQuery);
        }
        let name = message.name.as_deref().unwrap_or(DEFAULT_NAME);
        let portal = match client.portal_store().get_portal(name) {
            Some(Entry::Value(portal)) => portal,
            Some(Entry::Empty) => {
                client.feed(PgWireBackendMessage::EmptyQueryResponse(EmptyQueryResponse::new())).await?;
                return Ok(());
            }
            None => return Err(PgWireError::PortalNotFound(name.to_string())),
        };
        let connection = connection(client)?;
        client.set_state(PgWireConnectionState::QueryInProgress);
        let result = self.execute_portal(client, &connection, &portal, message.max_rows).await;
        client.set_state(PgWireConnectionState::ReadyForQuery);
        result
    }

    async fn do_query<C>(
        &self,
        _client: &mut C,
        _portal: &Portal<Self::Statement>,
        _max_rows: usize,
    ) -> PgWireResult<Response>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Self::Statement>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        Err(user_error(sqlstate::INTERNAL_ERROR, "portals are executed by on_execute"))
    }
}

impl Handler {
    /// The bound parameters of a portal, as its plan's placeholders take them.
    fn parameters(&self, portal: &Portal<Arc<Prepared>>) -> Result<Vec<datafusion::common::ScalarValue>, Failure> {
        let prepared = &portal.statement.statement;
        let expected = &prepared.parameter_types;
        let declared = &portal.statement.parameter_types;
        if portal.parameters.len() != expected.len() {
            return Err(error(
                sqlstate::PROTOCOL_VIOLATION,
                format!(
                    "bind message supplies {} parameters, but prepared statement \"{}\" requires {}",
                    portal.parameters.len(),
                    portal.statement.id,
                    expected.len()
                ),
            ));
        }
        let codes = format_codes(&portal.parameter_format);
        portal
            .parameters
            .iter()
            .enumerate()
            .map(|(i, bytes)| {
                let binary = match codes.as_slice() {
                    [] => false,
                    [one] => *one == 1,
                    many => many.get(i).copied() == Some(1),
                };
                params::value(bytes.as_deref(), binary, declared.get(i).and_then(Option::as_ref), expected[i].as_ref())
            })
            .collect()
    }

    /// Executes a portal: runs its statement the first time, then sends up to `max_rows` rows
    /// (all when 0), ending with `PortalSuspended` while rows remain.
    async fn execute_portal<C>(
        &self,
        client: &mut C,
        connection: &Arc<Connection>,
        portal: &Portal<Arc<Prepared>>,
        max_rows: i32,
    ) -> PgWireResult<()>
    where
        C: ClientInfo + ClientPortalStore + Sink<PgWireBackendMessage> + Unpin + Send + Sync,
        C::PortalStore: PortalStore<Statement = Arc<Prepared>>,
        C::Error: Debug,
        PgWireError: From<<C as Sink<PgWireBackendMessage>>::Error>,
    {
        let mut state = portal.state.lock().await;
        if matches!(*state, PortalExecutionState::Initial) {
            let prepared = &portal.statement.statement;
            let plan = match &prepared.plan {
                Some(plan) => {
                    let values = self.parameters(portal).map_err(PgWireError::UserError)?;
                    let bound = plan
                        .clone()
                        .with_param_values(ParamValues::List(values.into_iter().map(Into::into).collect()))
                        .map_err(|e| PgWireError::UserError(engine_error(&EngineError::from(e), &prepared.sql)))?;
                    Some(bound)
                }
                None => None,
            };
            let outcome = self
                .run(client, connection, prepared.statement.clone(), &prepared.sql, plan)
                .await
                .map_err(PgWireError::UserError)?;
            match outcome {
                Outcome::Tag { tag, warnings, reported } => {
                    *state = PortalExecutionState::Finished;
                    return Self::send_tag(client, tag, warnings, reported).await;
                }
                Outcome::Copy(copy) => {
                    *state = PortalExecutionState::Finished;
                    let _guard = connection.begin_query();
                    return copy::send(client, Arc::clone(connection), copy).await;
                }
                Outcome::CopyIn(copy) => {
                    copy.discard();
                    return Err(user_error(
                        sqlstate::FEATURE_NOT_SUPPORTED,
                        "COPY FROM STDIN is supported in the simple query protocol only (as psql sends it)",
                    ));
                }
                Outcome::Rows { stream, tag } => {
                    let formats = format_codes(&portal.result_column_format);
                    let columns = encode::columns(stream.schema().fields(), &formats);
                    let encoder = RowEncoder::new(&columns, connection.lock_settings().text.clone());
                    let rows = data_rows(Arc::clone(connection), stream, encoder);
                    let mut response = QueryResponse::new(Arc::new(field_infos(&columns)), rows);
                    response.set_command_tag(tag);
                    *state = PortalExecutionState::Suspended(response);
                }
            }
        }
        let PortalExecutionState::Suspended(response) = &mut *state else {
            client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new("SELECT 0".into()))).await?;
            return Ok(());
        };
        let tag = response.command_tag().to_string();
        let limit = usize::try_from(max_rows).ok().filter(|n| *n > 0);
        let _guard = connection.begin_query();
        let mut count = 0usize;
        let rows = response.data_rows();
        let exhausted = loop {
            if limit.is_some_and(|limit| count >= limit) {
                break false;
            }
            match rows.next().await {
                Some(row) => {
                    client.feed(PgWireBackendMessage::DataRow(row?)).await?;
                    count += 1;
                }
                None => break true,
            }
        };
        if exhausted {
            *state = PortalExecutionState::Finished;
            client.feed(PgWireBackendMessage::CommandComplete(CommandComplete::new(format!("{tag} {count}")))).await?;
        } else {
            client.feed(PgWireBackendMessage::PortalSuspended(PortalSuspended::new())).await?;
        }
        Ok(())
    }
}
