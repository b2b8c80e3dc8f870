//! Splitting typed or piped text into complete statements, the way psql does: a statement ends at
//! a `;` outside quotes and comments; a line starting with `\` is a meta-command.

/// One piece of input, ready to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// SQL text up to and including its `;` (or the end of input).
    Sql(String),
    /// A meta-command line such as `\d fact_sales`, without its newline.
    Meta(String),
}

/// Splits `text` into complete pieces and the incomplete rest (SQL with no `;` yet).
pub fn split(text: &str) -> (Vec<Piece>, String) {
    let mut pieces = Vec::new();
    let mut current = String::new();
    let mut lexer = Lexer::default();
    let mut lines = text.split_inclusive('\n').peekable();
    while let Some(line) = lines.next() {
        if current.trim().is_empty() && lexer.is_neutral() && line.trim_start().starts_with('\\') {
            pieces.push(Piece::Meta(line.trim().to_string()));
            current.clear();
            continue;
        }
        for c in line.chars() {
            current.push(c);
            if lexer.feed(c) {
                pieces.push(Piece::Sql(std::mem::take(&mut current)));
            }
        }
        // Whitespace and comments after the last `;` are not a pending statement.
        if lines.peek().is_some() && lexer.is_neutral() && is_blank(&current) {
            current.clear();
        }
    }
    let rest = if lexer.is_neutral() && is_blank(&current) { String::new() } else { current };
    (pieces, rest)
}

/// Whether `text` holds nothing but whitespace and comments.
fn is_blank(text: &str) -> bool {
    let mut lexer = Lexer::default();
    let mut code = String::new();
    for c in text.chars() {
        let before = lexer.state;
        lexer.feed(c);
        match (before, lexer.state) {
            // The `-` or `/` that started the comment was taken for code a character ago.
            (State::Code, State::LineComment | State::BlockComment) => {
                code.pop();
            }
            (State::Code | State::SingleQuoted | State::DoubleQuoted, _) => code.push(c),
            (State::LineComment | State::BlockComment, _) => {}
        }
    }
    code.trim().is_empty()
}

/// Whether `text` is ready to run: a meta-command, or SQL whose last statement is terminated.
pub fn is_complete(text: &str) -> bool {
    let (pieces, rest) = split(text);
    rest.trim().is_empty() || (pieces.is_empty() && rest.trim_start().starts_with('\\'))
}

/// Tracks quotes and comments, character by character.
#[derive(Default)]
struct Lexer {
    state: State,
    previous: Option<char>,
}

#[derive(Default, Clone, Copy, PartialEq, Eq)]
enum State {
    #[default]
    Code,
    SingleQuoted,
    DoubleQuoted,
    LineComment,
    BlockComment,
}

impl Lexer {
    fn is_neutral(&self) -> bool {
        matches!(self.state, State::Code | State::LineComment)
    }

    /// Feeds one character; returns whether it ended a statement.
    fn feed(&mut self, c: char) -> bool {
        let previous = self.previous.replace(c);
        match self.state {
            State::Code => match c {
                '\'' => self.state = State::SingleQuoted,
                '"' => self.state = State::DoubleQuoted,
                '-' if previous == Some('-') => self.state = State::LineComment,
                '*' if previous == Some('/') => self.state = State::BlockComment,
                ';' => return true,
                _ => {}
            },
            // A doubled quote inside a quoted string closes and reopens it, which this handles.
            State::SingleQuoted if c == '\'' => self.state = State::Code,
            State::DoubleQuoted if c == '"' => self.state = State::Code,
            State::LineComment if c == '\n' => self.state = State::Code,
            State::BlockComment if c == '/' && previous == Some('*') => {
                self.state = State::Code;
                // The `/` that closes a comment does not start another.
                self.previous = None;
            }
            _ => {}
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql(text: &str) -> Piece {
        Piece::Sql(text.to_string())
    }

    #[test]
    fn statements_end_at_semicolons_outside_quotes_and_comments() {
        let (pieces, rest) = split("SELECT 'a;b', \"c;d\" -- e;f\n; SELECT /* ; */ 2; SELECT");
        assert_eq!(pieces, [sql("SELECT 'a;b', \"c;d\" -- e;f\n;"), sql(" SELECT /* ; */ 2;")]);
        assert_eq!(rest, " SELECT");
    }

    #[test]
    fn meta_commands_are_whole_lines() {
        let (pieces, rest) = split("\\timing\nSELECT 1;\n  \\d fact_sales\n");
        assert_eq!(pieces, [Piece::Meta("\\timing".into()), sql("SELECT 1;"), Piece::Meta("\\d fact_sales".into())]);
        assert_eq!(rest, "");
    }

    #[test]
    fn a_backslash_inside_a_statement_is_sql() {
        let (pieces, rest) = split("SELECT\n\\x");
        assert!(pieces.is_empty());
        assert_eq!(rest, "SELECT\n\\x");
    }

    #[test]
    fn completeness_follows_quotes() {
        assert!(is_complete("SELECT 1;"));
        assert!(is_complete("\\dt"));
        assert!(is_complete("   "));
        assert!(!is_complete("SELECT 'it''s;"));
        assert!(is_complete("SELECT 'it''s';"));
        assert!(!is_complete("SELECT 1 /* ; */"));
        assert!(is_complete("-- only a comment"));
        assert!(is_complete("/* a comment */ -- and another"));
        assert!(!is_complete("SELECT 1 -- no semicolon yet"));
        assert!(!is_complete("/* not closed"));
    }
}
