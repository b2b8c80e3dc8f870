//! The one error type of the catalog, named from the user's side.

/// Everything that can go wrong when reading or changing a warehouse's catalog.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("table {name} does not exist{}", hint(.closest))]
    UnknownTable { name: String, closest: Option<String> },

    #[error("table {name} already exists")]
    TableExists { name: String },

    #[error("column {column} does not exist in table {table}{}", hint(.closest))]
    UnknownColumn { table: String, column: String, closest: Option<String> },

    #[error("column {column} appears more than once in table {table}")]
    DuplicateColumn { table: String, column: String },

    #[error("constraint {name} does not exist on table {table}")]
    UnknownConstraint { table: String, name: String },

    #[error("constraint {name} already exists on table {table}")]
    ConstraintExists { table: String, name: String },

    #[error("table {table} already has a primary key ({existing})")]
    PrimaryKeyExists { table: String, existing: String },

    #[error("invalid foreign key {name} on {table}: {reason}")]
    InvalidForeignKey { table: String, name: String, reason: String },

    #[error(
        "cannot drop table {table} because {} references it (drop those foreign keys first, or use DROP TABLE ... CASCADE)",
        .referenced_by.join(", ")
    )]
    StillReferenced { table: String, referenced_by: Vec<String> },

    #[error("invalid table definition for {table}: {reason}")]
    InvalidTable { table: String, reason: String },

    #[error("warehouse root {root} is not usable: {reason}")]
    InvalidRoot { root: String, reason: String },

    #[error("location {location} is not usable: {reason}")]
    InvalidLocation { location: String, reason: String },

    #[error("{root} is not a Starhouse warehouse (no {log} found)")]
    NotAWarehouse { root: String, log: String },

    #[error("catalog file {path} is unreadable: {source}")]
    CorruptVersion { path: String, source: serde_json::Error },

    #[error("catalog file {path} is missing: the log has a gap before version {version}")]
    MissingVersion { path: String, version: u64 },

    #[error("the warehouse did not exist yet at {time} (it was created at {first})")]
    BeforeHistory { time: String, first: String },

    #[error("load {id} was committed already, in version {version}")]
    LoadExists { id: String, version: u64 },

    #[error("version {version} does not exist (the latest is {latest})")]
    NoSuchVersion { version: u64, latest: u64 },

    #[error(
        "could not commit after {attempts} attempts: other writers kept committing first (last tried version {version})"
    )]
    CommitConflict { version: u64, attempts: u32 },

    #[error("cannot {action} {path}: {}", crate::storage::explain(.source))]
    Store { action: &'static str, path: String, source: object_store::Error },
}

/// The " (did you mean x?)" suffix of a message, when there is a close name.
fn hint(closest: &Option<String>) -> String {
    match closest {
        Some(name) => format!(" (did you mean {name}?)"),
        None => String::new(),
    }
}

/// The candidate closest to `name` by edit distance, if it is close enough to be a plausible typo.
pub fn closest_name<'a>(name: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let lower = name.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (strsim::damerau_levenshtein(&lower, &c.to_lowercase()), c))
        .filter(|(distance, c)| *distance <= (c.len().max(lower.len()) / 3).max(2))
        .min_by_key(|(distance, c)| (*distance, c.len()))
        .map(|(_, c)| c.to_string())
}

#[cfg(test)]
mod tests {
    use super::closest_name as closest;

    #[test]
    fn a_typo_suggests_the_closest_name() {
        let names = ["fact_sales", "dim_date", "dim_product"];
        assert_eq!(closest("fact_sale", names).as_deref(), Some("fact_sales"));
        assert_eq!(closest("dim_prodcut", names).as_deref(), Some("dim_product"));
        assert_eq!(closest("DIM_DATE", names).as_deref(), Some("dim_date"));
    }

    #[test]
    fn an_unrelated_name_suggests_nothing() {
        assert_eq!(closest("weather", ["fact_sales", "dim_date"]), None);
    }
}
