//! Running input: statements and meta-commands, with the shell's settings (format, expanded
//! display, timing, output file). Shared by the REPL and non-interactive use.

use std::io::Write;
use std::time::Instant;

use anyhow::{Context as _, Result};
use starhouse_engine::{EngineError, Output, Session};

use crate::input::{self, Piece};
use crate::render::{self, Format, TableStyle};

/// What to do after a piece of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Quit,
}

/// The shell's state: the engine session and the display settings.
pub struct Runner {
    pub session: Session,
    pub format: Format,
    pub style: TableStyle,
    pub timing: bool,
    /// Where results go: standard output, or the file of `\o FILE`.
    pub output: Box<dyn Write>,
}

impl Runner {
    /// Runs every complete piece of `text` (and the unterminated rest, as a last statement), in
    /// order, stopping at the first error.
    pub async fn run_text(&mut self, text: &str) -> Result<Flow> {
        let (mut pieces, rest) = input::split(text);
        if !rest.trim().is_empty() {
            pieces.push(Piece::Sql(rest));
        }
        for piece in pieces {
            let flow = match piece {
                Piece::Sql(sql) => {
                    self.run_sql(&sql).await?;
                    Flow::Continue
                }
                Piece::Meta(line) => self.run_meta(&line).await?,
            };
            if flow == Flow::Quit {
                return Ok(Flow::Quit);
            }
        }
        Ok(Flow::Continue)
    }

    async fn run_meta(&mut self, line: &str) -> Result<Flow> {
        Box::pin(crate::meta::run(self, line)).await
    }

    /// Runs the statements of one piece of SQL text and writes their results.
    pub async fn run_sql(&mut self, sql: &str) -> Result<()> {
        let statements = starhouse_engine::sql::parse(sql).map_err(|e| with_context(e, sql))?;
        for statement in statements {
            let started = Instant::now();
            let output = self.session.execute(statement).await.map_err(|e| with_context(e, sql))?;
            match output {
                Output::Rows(stream) => {
                    let (format, style) = (self.format, self.style.clone());
                    let out = self.out();
                    let result = render::write_result(out, format, &style, stream).await;
                    out.flush()?;
                    result?;
                }
                Output::Command(tag) => {
                    if self.format == Format::Table {
                        writeln!(self.out(), "{tag}")?;
                    }
                }
            }
            if self.timing {
                // On the screen even when results go to a file, as psql does.
                let elapsed = started.elapsed().as_secs_f64() * 1000.0;
                println!("Time: {elapsed:.3} ms");
            }
            self.out().flush()?;
        }
        Ok(())
    }

    /// Where results are written: the `\o` file, or standard output.
    pub fn out(&mut self) -> &mut dyn Write {
        &mut *self.output
    }

    /// Runs a file of statements and meta-commands (`\i`).
    pub async fn run_file(&mut self, path: &str) -> Result<Flow> {
        let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {path}"))?;
        self.run_text(&text).await
    }
}

/// The error, with psql's `LINE n:` excerpt and a caret under the position of a syntax error.
fn with_context(error: EngineError, sql: &str) -> anyhow::Error {
    let excerpt = match &error {
        EngineError::Syntax { line: Some(line), column: Some(column), .. } => {
            // The parser counts lines and columns in the text it was given.
            sql.lines().nth((*line as usize).saturating_sub(1)).map(|source| {
                let prefix = format!("LINE {line}: ");
                let caret_at = prefix.chars().count() + (*column as usize).saturating_sub(1);
                format!("\n{prefix}{source}\n{}^", " ".repeat(caret_at))
            })
        }
        _ => None,
    };
    anyhow::anyhow!("{error}{}", excerpt.unwrap_or_default())
}
