//! `COPY table [(columns)] FROM STDIN` (what psql's `\copy table from 'file'` sends): the client's
//! data is spooled to a temporary file as it arrives, then loaded like `COPY table FROM 'file'`,
//! in one commit with the same checks. Simple protocol only.

use std::io::Write;
use std::path::PathBuf;

use starhouse_engine::{EngineError, LoadOptions, LoadTarget, ReadOptions, Session};

use crate::sqlstate::{Failure, engine_error};

/// A copy-in under way: where its data goes and how it will be read.
pub(crate) struct CopyIn {
    table: String,
    read: ReadOptions,
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    /// How many columns each row has (for the CopyInResponse).
    pub columns: usize,
}

impl CopyIn {
    /// Starts a copy into `table`, whose rows have `columns` columns.
    pub fn start(table: String, read: ReadOptions, columns: usize) -> std::io::Result<Self> {
        let name = format!("starhouse-copy-{}-{:016x}.csv", std::process::id(), rand::random::<u64>());
        let path = std::env::temp_dir().join(name);
        let file = std::io::BufWriter::new(std::fs::File::create_new(&path)?);
        Ok(Self { table, read, path, file, columns })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        self.file.write_all(data)
    }

    /// Loads what was received: the rows loaded, or why not (the data called STDIN).
    pub async fn finish(mut self, session: &Session) -> Result<u64, Failure> {
        let file = self.path.display().to_string();
        let result = match self.file.flush() {
            Ok(()) => {
                let target = LoadTarget { table: self.table.clone(), files: vec![file.clone()] };
                let options = LoadOptions { read: self.read.clone(), ..LoadOptions::default() };
                session.load(&[target], &options).await.map(|outcome| outcome.rows())
            }
            Err(error) => Err(EngineError::Unsupported { what: format!("spooling COPY data ({error})"), hint: None }),
        };
        self.discard();
        result.map_err(|error| {
            let mut info = engine_error(&error, "");
            info.message = info.message.replace(&file, "STDIN");
            info
        })
    }

    /// Removes the spooled data (a failed or abandoned copy).
    pub fn discard(&self) {
        if let Err(error) = std::fs::remove_file(&self.path) {
            tracing::warn!(%error, path = %self.path.display(), "could not remove spooled COPY data");
        }
    }
}
