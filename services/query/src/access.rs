//! Who may read what.
//!
//! A caller's session only contains the tables its role may read: a table it may not read does
//! not exist for it, so no view, CTE, join, `information_schema` or `pg_catalog` query can reach
//! it. A statement that names such a table by name is refused up front with
//! [`crate::QueryError::Forbidden`], so the caller learns why instead of "table not found".

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

/// What a user is, which decides what they may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Role {
    /// Force analysts: every aggregate table.
    Analyst,
    /// Community safety partnerships, local authorities, business partnerships: published
    /// (disclosure-controlled) tables, plus any aggregate listed in `query.partner_tables`.
    Partner,
    /// University researchers: the extracts granted to them by name, and published tables.
    Researcher,
    /// Operators: what analysts read. Managing users and reading the audit log are done on the
    /// server's machine (`lantern users`, `lantern audit`), not through SQL. Admins may also
    /// submit reports of every kind through the intake (`POST /api/v1/reports/...`).
    Admin,
    /// Business crime reduction partnerships and businesses filing reports through the intake:
    /// business-crime reports for their own business references only. They read no table
    /// beyond the public reference tables.
    Reporter,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Analyst,
        Role::Partner,
        Role::Researcher,
        Role::Admin,
        Role::Reporter,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Analyst => "analyst",
            Role::Partner => "partner",
            Role::Researcher => "researcher",
            Role::Admin => "admin",
            Role::Reporter => "reporter",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown role {s:?}: expected analyst, partner, researcher, admin or reporter"
                )
            })
    }
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub name: String,
    pub role: Role,
    /// Tables granted to this user by name, on top of what the role allows (a researcher's
    /// extracts).
    pub grants: BTreeSet<String>,
    /// The business references a reporter may file business-crime reports for.
    pub businesses: BTreeSet<String>,
}

impl Principal {
    pub fn new(name: impl Into<String>, role: Role) -> Self {
        Principal {
            name: name.into(),
            role,
            grants: BTreeSet::new(),
            businesses: BTreeSet::new(),
        }
    }
}

/// The deployment's rules on top of the roles.
#[derive(Debug, Clone, Default)]
pub struct AccessPolicy {
    /// Tables the partner role may read (`query.partner_tables`).
    pub partner_tables: BTreeSet<String>,
}

impl AccessPolicy {
    /// Whether `who` may read `table`. Internal (per-record) tables are never readable through
    /// the query service; reference tables (place names) are public ONS data, readable by all.
    pub fn allows(&self, who: &Principal, table: &str, kind: TableKind) -> bool {
        match kind {
            TableKind::Internal => false,
            TableKind::Reference => true,
            TableKind::Published => who.role != Role::Reporter,
            // Analytics hold record-level lists (the repeat-victim addresses to visit): analysts
            // only, unless granted by name.
            TableKind::Extract | TableKind::Analytics => {
                who.grants.contains(table) || matches!(who.role, Role::Analyst | Role::Admin)
            }
            TableKind::Aggregate => {
                who.grants.contains(table)
                    || match who.role {
                        Role::Analyst | Role::Admin => true,
                        Role::Partner => self.partner_tables.contains(table),
                        Role::Researcher | Role::Reporter => false,
                    }
            }
        }
    }
}

/// What a table holds, which decides who may read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum TableKind {
    /// Event-time aggregates published by the processors.
    Aggregate,
    /// Per-record processor state: record-level data, never served.
    Internal,
    /// Public reference data (ONS place names).
    Reference,
    /// Disclosure-controlled partner tables (`lantern publish`): the latest vintage of each.
    Published,
    /// Anonymised research extracts (`lantern extract`), for the researchers granted them.
    Extract,
    /// Crime-prevention analytics (`lantern analyse`): rates, repeats, hotspots, harm.
    Analytics,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_see_what_they_should() {
        let policy = AccessPolicy {
            partner_tables: BTreeSet::from(["published_counts".to_string()]),
        };
        let analyst = Principal::new("a", Role::Analyst);
        let partner = Principal::new("p", Role::Partner);
        let mut researcher = Principal::new("r", Role::Researcher);
        researcher.grants.insert("extract_2025_01".into());
        let agg = TableKind::Aggregate;

        assert!(policy.allows(&analyst, "incidents_monthly", agg));
        assert!(!policy.allows(&analyst, "incident_facts", TableKind::Internal));
        assert!(!policy.allows(&partner, "incidents_monthly", agg));
        assert!(policy.allows(&partner, "published_counts", agg));
        assert!(policy.allows(&partner, "place_names", TableKind::Reference));
        assert!(!policy.allows(&researcher, "incidents_monthly", agg));
        assert!(policy.allows(&researcher, "extract_2025_01", agg));
        let (published, extract) = (TableKind::Published, TableKind::Extract);
        assert!(policy.allows(&partner, "partner_incidents_msoa_monthly", published));
        assert!(!policy.allows(&partner, "extract_2025_01", extract));
        assert!(policy.allows(&researcher, "extract_2025_01", extract));
        assert!(!policy.allows(&researcher, "someone_elses", extract));
        assert!(policy.allows(&analyst, "extract_2025_01", extract));
        let analytics = TableKind::Analytics;
        assert!(policy.allows(&analyst, "analytics_repeat_live", analytics));
        assert!(!policy.allows(&partner, "analytics_repeat_live", analytics));
        assert!(!policy.allows(&researcher, "analytics_repeat_live", analytics));
        assert_eq!("partner".parse::<Role>(), Ok(Role::Partner));
        assert!("root".parse::<Role>().unwrap_err().contains("analyst"));
    }
}
