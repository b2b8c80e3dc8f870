//! The interactive shell: a line editor with history and completion, statements that run when
//! they end with `;`, Ctrl-C that cancels the running query and keeps the shell, Ctrl-D to leave.

use std::path::PathBuf;

use anyhow::Result;
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::history::FileHistory;
use rustyline::{EditMode, Editor};
use tokio::runtime::Runtime;

use crate::complete::ShellHelper;
use crate::runner::{Flow, Runner};

const PROMPT: &str = "starhouse> ";

/// Where the history is kept across sessions: `$STARHOUSE_HISTORY`, or `history` in the user's
/// Starhouse data folder.
fn history_path() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("STARHOUSE_HISTORY") {
        return Some(PathBuf::from(path));
    }
    let folder = dirs::data_dir()?.join("starhouse");
    std::fs::create_dir_all(&folder).ok()?;
    Some(folder.join("history"))
}

/// Runs the REPL until `\q` or Ctrl-D. Blocking: each statement runs on `runtime`.
pub fn run(runtime: &Runtime, mut runner: Runner) -> Result<()> {
    let config = Config::builder()
        .auto_add_history(false)
        .history_ignore_dups(true)?
        .max_history_size(10_000)?
        .completion_type(CompletionType::List)
        .edit_mode(EditMode::Emacs)
        .build();
    let mut editor: Editor<ShellHelper, FileHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(ShellHelper::new(runner.session.engine().warehouse().clone())));
    let history = history_path();
    if let Some(path) = &history {
        // A missing history file is the first session, not an error.
        let _ = editor.load_history(path);
    }

    loop {
        match editor.readline(PROMPT) {
            Ok(entry) => {
                if entry.trim().is_empty() {
                    continue;
                }
                editor.add_history_entry(entry.as_str())?;
                if let Some(path) = &history
                    && let Err(error) = editor.save_history(path)
                {
                    tracing::warn!(%error, path = %path.display(), "could not save the history");
                }
                let flow = runtime.block_on(async {
                    tokio::select! {
                        flow = runner.run_text(&entry) => flow,
                        _ = tokio::signal::ctrl_c() => {
                            eprintln!("Cancelled.");
                            Ok(Flow::Continue)
                        }
                    }
                });
                match flow {
                    Ok(Flow::Quit) => break,
                    Ok(Flow::Continue) => {}
                    Err(error) => eprintln!("Error: {error:#}"),
                }
            }
            // Ctrl-C at the prompt clears the line, as in psql.
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(error) => return Err(error.into()),
        }
    }
    Ok(())
}
