//! Writing results: aligned tables (psql's layout, readable with wide values and many rows),
//! expanded records, CSV and JSON. Rows are written as batches arrive; a table keeps only the
//! rows it will show.

use std::collections::VecDeque;
use std::io::Write;

use anyhow::Result;
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::arrow::util::display::{ArrayFormatter, FormatOptions};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use unicode_width::UnicodeWidthStr;

/// How results are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns with a header, like psql.
    Table,
    /// Comma-separated values with a header line.
    Csv,
    /// One JSON array of objects.
    Json,
}

/// Table layout settings.
#[derive(Debug, Clone)]
pub struct TableStyle {
    /// One record per block of `column | value` lines (psql's `\x`).
    pub expanded: bool,
    /// At most this many rows are shown, the first and last halves; 0 shows all.
    pub max_rows: usize,
    /// A cell wider than this is cut with `…`.
    pub max_cell_width: usize,
    /// The table is narrowed to fit this width when it can be (the terminal's).
    pub max_width: Option<usize>,
}

/// Writes one result in `format`, returning the number of rows. Reading stops at the first
/// error, which is returned after what was read is written.
pub async fn write_result(
    out: &mut dyn Write,
    format: Format,
    style: &TableStyle,
    mut stream: SendableRecordBatchStream,
) -> Result<usize> {
    let schema = stream.schema();
    let mut rows = 0;
    match format {
        Format::Table => {
            let mut table = TableBuffer::new(schema, style.max_rows);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                table.push(&batch)?;
            }
            table.write(out, style)?;
        }
        Format::Csv => {
            let mut writer = datafusion::arrow::csv::WriterBuilder::new().with_header(true).build(&mut *out);
            let mut wrote_any = false;
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                writer.write(&batch)?;
                wrote_any = true;
            }
            if !wrote_any {
                writer.write(&RecordBatch::new_empty(schema))?;
            }
        }
        Format::Json => {
            let mut writer = datafusion::arrow::json::WriterBuilder::new()
                .with_explicit_nulls(true)
                .build::<_, datafusion::arrow::json::writer::JsonArray>(&mut *out);
            while let Some(batch) = stream.next().await {
                let batch = batch?;
                rows += batch.num_rows();
                writer.write(&batch)?;
            }
            writer.finish()?;
            writeln!(out)?;
        }
    }
    Ok(rows)
}

fn is_numeric(data_type: &DataType) -> bool {
    data_type.is_numeric() || matches!(data_type, DataType::Dictionary(_, v) if v.is_numeric())
}

/// The rows a table will show: the first `max_rows`, and batches covering the last half of that.
struct TableBuffer {
    schema: SchemaRef,
    max_rows: usize,
    first: Vec<Vec<String>>,
    last: VecDeque<RecordBatch>,
    last_rows: usize,
    total: usize,
}

impl TableBuffer {
    fn new(schema: SchemaRef, max_rows: usize) -> Self {
        Self { schema, max_rows, first: Vec::new(), last: VecDeque::new(), last_rows: 0, total: 0 }
    }

    fn keep_last(&self) -> usize {
        self.max_rows / 2
    }

    fn push(&mut self, batch: &RecordBatch) -> Result<()> {
        let wanted = if self.max_rows == 0 {
            batch.num_rows()
        } else {
            self.max_rows.saturating_sub(self.first.len()).min(batch.num_rows())
        };
        self.first.extend(format_rows(&batch.slice(0, wanted))?);
        self.total += batch.num_rows();
        if self.max_rows > 0 {
            let keep = self.keep_last();
            let rest = batch.slice(wanted, batch.num_rows() - wanted);
            if rest.num_rows() > 0 && keep > 0 {
                let tail = rest.slice(rest.num_rows().saturating_sub(keep), rest.num_rows().min(keep));
                self.last_rows += tail.num_rows();
                self.last.push_back(tail);
                while self.last.front().is_some_and(|b| self.last_rows - b.num_rows() >= keep) {
                    if let Some(dropped) = self.last.pop_front() {
                        self.last_rows -= dropped.num_rows();
                    }
                }
            }
        }
        Ok(())
    }

    /// The rows to show, with `None` where rows are left out.
    fn shown(&self) -> Result<Vec<Option<Vec<String>>>> {
        if self.max_rows == 0 || self.total <= self.max_rows {
            return Ok(self.first.iter().cloned().map(Some).collect());
        }
        let keep = self.keep_last();
        let mut tail = Vec::new();
        for batch in &self.last {
            tail.extend(format_rows(batch)?);
        }
        let tail = tail.split_off(tail.len().saturating_sub(keep));
        let head = self.max_rows - tail.len();
        Ok(self.first[..head].iter().cloned().map(Some).chain([None]).chain(tail.into_iter().map(Some)).collect())
    }

    fn write(&self, out: &mut dyn Write, style: &TableStyle) -> Result<()> {
        let shown = self.shown()?;
        let headers: Vec<String> = self.schema.fields().iter().map(|f| f.name().clone()).collect();
        let numeric: Vec<bool> = self.schema.fields().iter().map(|f| is_numeric(f.data_type())).collect();
        if style.expanded {
            write_expanded(out, &headers, &shown, style)?;
        } else {
            write_aligned(out, &headers, &numeric, &shown, style)?;
        }
        let count = if self.total == 1 { "1 row".to_string() } else { format!("{} rows", self.total) };
        if shown.len() < self.total {
            writeln!(out, "({count}, {} shown)", self.max_rows)?;
        } else {
            writeln!(out, "({count})")?;
        }
        Ok(())
    }
}

fn format_rows(batch: &RecordBatch) -> Result<Vec<Vec<String>>> {
    let options = FormatOptions::default().with_null("NULL");
    let formatters = batch
        .columns()
        .iter()
        .map(|column| ArrayFormatter::try_new(column.as_ref(), &options))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((0..batch.num_rows()).map(|row| formatters.iter().map(|f| f.value(row).to_string()).collect()).collect())
}

/// `value` cut to at most `width` columns, ending in `…` when cut; newlines shown as `↵`.
fn fit(value: &str, width: usize) -> String {
    let value = value.replace('\n', "↵").replace('\t', " ");
    if value.width() <= width {
        return value;
    }
    let mut cut = String::new();
    let mut used = 0;
    for c in value.chars() {
        let w = UnicodeWidthStr::width(c.encode_utf8(&mut [0; 4]) as &str);
        if used + w + 1 > width {
            break;
        }
        cut.push(c);
        used += w;
    }
    cut.push('…');
    cut
}

fn pad(value: &str, width: usize, right: bool) -> String {
    let fill = " ".repeat(width.saturating_sub(value.width()));
    if right { format!("{fill}{value}") } else { format!("{value}{fill}") }
}

/// Column widths that fit the headers and cells, narrowed (widest first) to fit `max_width`.
fn column_widths(headers: &[String], rows: &[Option<Vec<String>>], style: &TableStyle) -> Vec<usize> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.width().min(style.max_cell_width)).collect();
    for row in rows.iter().flatten() {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(fit(cell, style.max_cell_width).width());
        }
    }
    if let Some(max_width) = style.max_width {
        const NARROWEST: usize = 6;
        // Each column takes its width plus " | " (3), less one space at each end.
        let total = |widths: &[usize]| widths.iter().sum::<usize>() + widths.len() * 3;
        while total(&widths) > max_width {
            let Some((widest, width)) = widths.iter().copied().enumerate().max_by_key(|(_, w)| *w) else {
                break;
            };
            if width <= NARROWEST {
                break;
            }
            widths[widest] = width - 1;
        }
    }
    widths
}

fn write_aligned(
    out: &mut dyn Write,
    headers: &[String],
    numeric: &[bool],
    rows: &[Option<Vec<String>>],
    style: &TableStyle,
) -> Result<()> {
    let widths = column_widths(headers, rows, style);
    let line = |cells: Vec<String>| format!(" {}", cells.join(" | ")).trim_end().to_string();
    let header_cells = headers
        .iter()
        .zip(&widths)
        .map(|(h, w)| {
            let h = fit(h, *w);
            let left = (w - h.width()) / 2;
            pad(&format!("{}{h}", " ".repeat(left)), *w, false)
        })
        .collect();
    writeln!(out, "{}", line(header_cells))?;
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(w + 2)).collect();
    writeln!(out, "{}", rule.join("+"))?;
    for row in rows {
        let cells = match row {
            Some(row) => {
                row.iter().zip(&widths).zip(numeric).map(|((cell, w), right)| pad(&fit(cell, *w), *w, *right)).collect()
            }
            None => widths.iter().map(|w| pad("…", *w, false)).collect(),
        };
        writeln!(out, "{}", line(cells))?;
    }
    Ok(())
}

fn write_expanded(
    out: &mut dyn Write,
    headers: &[String],
    rows: &[Option<Vec<String>>],
    style: &TableStyle,
) -> Result<()> {
    let name_width = headers.iter().map(|h| h.width()).max().unwrap_or(0);
    let value_width = style
        .max_width
        .map(|w| w.saturating_sub(name_width + 3).max(10))
        .unwrap_or(usize::MAX)
        .min(style.max_cell_width.max(200));
    let mut record = 0;
    for row in rows {
        let Some(row) = row else {
            writeln!(out, "…")?;
            continue;
        };
        record += 1;
        writeln!(out, "-[ RECORD {record} ]")?;
        for (header, value) in headers.iter().zip(row) {
            writeln!(out, "{} | {}", pad(header, name_width, false), fit(value, value_width))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{Field, Schema};
    use datafusion::physical_plan::stream::RecordBatchStreamAdapter;

    use super::*;

    fn style(max_rows: usize) -> TableStyle {
        TableStyle { expanded: false, max_rows, max_cell_width: 12, max_width: None }
    }

    fn stream(batches: Vec<RecordBatch>) -> SendableRecordBatchStream {
        let schema = batches[0].schema();
        Box::pin(RecordBatchStreamAdapter::new(schema, futures::stream::iter(batches.into_iter().map(Ok))))
    }

    fn batch(ids: std::ops::Range<i64>) -> RecordBatch {
        let schema = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, false),
            Field::new("name", DataType::Utf8, true),
        ]));
        let names: Vec<Option<String>> = ids.clone().map(|i| (i % 2 == 0).then(|| format!("n{i}"))).collect();
        RecordBatch::try_new(
            schema,
            vec![Arc::new(Int64Array::from_iter_values(ids)), Arc::new(StringArray::from(names))],
        )
        .expect("valid batch")
    }

    async fn render(format: Format, style: &TableStyle, batches: Vec<RecordBatch>) -> String {
        let mut out = Vec::new();
        write_result(&mut out, format, style, stream(batches)).await.expect("renders");
        String::from_utf8(out).expect("utf-8")
    }

    #[tokio::test]
    async fn a_table_is_aligned_with_numbers_on_the_right() {
        let text = render(Format::Table, &style(40), vec![batch(8..11)]).await;
        assert_eq!(text, " id | name\n----+------\n  8 | n8\n  9 | NULL\n 10 | n10\n(3 rows)\n");
    }

    #[tokio::test]
    async fn many_rows_show_the_first_and_last_across_batches() {
        let text = render(Format::Table, &style(4), vec![batch(0..3), batch(3..7), batch(7..10)]).await;
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[2..], ["  0 | n0", "  1 | NULL", " …  | …", "  8 | n8", "  9 | NULL", "(10 rows, 4 shown)"]);
    }

    #[tokio::test]
    async fn wide_values_are_cut() {
        let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Utf8, false)]));
        let wide = RecordBatch::try_new(schema, vec![Arc::new(StringArray::from(vec!["abcdefghijklmnopqrstuvwxyz"]))])
            .expect("valid batch");
        let text = render(Format::Table, &style(40), vec![wide]).await;
        assert!(text.contains(" abcdefghijk…\n"), "{text}");
    }

    #[tokio::test]
    async fn csv_and_json_keep_every_row() {
        let csv = render(Format::Csv, &style(1), vec![batch(0..2), batch(2..3)]).await;
        assert_eq!(csv, "id,name\n0,n0\n1,\n2,n2\n");
        let json = render(Format::Json, &style(1), vec![batch(0..2)]).await;
        assert_eq!(json, "[{\"id\":0,\"name\":\"n0\"},{\"id\":1,\"name\":null}]\n");
    }

    #[tokio::test]
    async fn the_expanded_layout_shows_one_record_per_block() {
        let expanded = TableStyle { expanded: true, ..style(40) };
        let text = render(Format::Table, &expanded, vec![batch(0..1)]).await;
        assert_eq!(text, "-[ RECORD 1 ]\nid   | 0\nname | n0\n(1 row)\n");
    }
}
