//! Where the feedback is stored: `--feedback-store sqlite:PATH` or
//! `--feedback-store postgres://...`, and how to name the place in logs and errors
//! without its password.

use std::{fmt, path::PathBuf, str::FromStr};

/// Where the feedback store keeps its data.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreLocation {
    /// An SQLite database file, created with its directory on first use (the default:
    /// `DATA_DIR/feedback.sqlite3`). One server process only.
    Sqlite(PathBuf),
    /// A PostgreSQL database, by its connection URL
    /// (`postgres://user:password@host:port/database`, or the `key=value` form that
    /// libpq takes). Any number of server processes may share it.
    Postgres(String),
}

impl FromStr for StoreLocation {
    type Err = String;

    /// `sqlite:PATH`, or a URL that starts with `postgres://` or `postgresql://`.
    fn from_str(value: &str) -> Result<Self, Self::Err> {
        if let Some(path) = value.strip_prefix("sqlite:") {
            if path.is_empty() {
                return Err(
                    "sqlite: needs the database file's path, as in sqlite:data/feedback.sqlite3"
                        .to_owned(),
                );
            }
            return Ok(StoreLocation::Sqlite(PathBuf::from(path)));
        }
        if value.starts_with("postgres://") || value.starts_with("postgresql://") {
            return Ok(StoreLocation::Postgres(value.to_owned()));
        }
        Err(format!(
            "{} is not a feedback store; use sqlite:PATH or postgres://user:password@host/database",
            redact(value)
        ))
    }
}

impl fmt::Display for StoreLocation {
    /// `sqlite:PATH`, or the URL with its password replaced by `***`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreLocation::Sqlite(path) => write!(f, "sqlite:{}", path.display()),
            StoreLocation::Postgres(url) => f.write_str(&redact(url)),
        }
    }
}

impl fmt::Debug for StoreLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// `url` with every password replaced by `***`: the one in the user information
/// (`postgres://user:secret@host`) and any `password=` parameter (in the query string or
/// in libpq's `key=value` form).
pub fn redact(url: &str) -> String {
    let mut out = url.to_owned();
    if let Some(scheme) = out.find("://") {
        let start = scheme + 3;
        let end = out[start..]
            .find(['/', '?'])
            .map_or(out.len(), |index| start + index);
        if let Some(at) = out[start..end].rfind('@')
            && let Some(colon) = out[start..start + at].find(':')
        {
            out.replace_range(start + colon + 1..start + at, "***");
        }
    }
    let mut from = 0;
    while let Some(found) = out[from..].find("password=") {
        let value = from + found + "password=".len();
        let end = out[value..]
            .find(['&', ' '])
            .map_or(out.len(), |index| value + index);
        out.replace_range(value..end, "***");
        from = value + 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations_parse() {
        assert_eq!(
            "sqlite:data/f.db".parse::<StoreLocation>(),
            Ok(StoreLocation::Sqlite(PathBuf::from("data/f.db")))
        );
        assert!("sqlite:".parse::<StoreLocation>().is_err());
        let url = "postgresql://app:s3cret@db:5432/feedback";
        assert_eq!(
            url.parse::<StoreLocation>(),
            Ok(StoreLocation::Postgres(url.to_owned()))
        );
        let err = "mysql://root:hunter2@db/x"
            .parse::<StoreLocation>()
            .unwrap_err();
        assert!(
            err.contains("sqlite:PATH") && !err.contains("hunter2"),
            "{err}"
        );
    }

    #[test]
    fn passwords_never_show() {
        for (url, shown) in [
            (
                "postgres://app:s3cret@db:5432/feedback",
                "postgres://app:***@db:5432/feedback",
            ),
            ("postgres://app@db/feedback", "postgres://app@db/feedback"),
            ("postgres://db/feedback", "postgres://db/feedback"),
            (
                "postgres://app:p@ss@db/f?sslmode=disable&password=x",
                "postgres://app:***@db/f?sslmode=disable&password=***",
            ),
            (
                "postgres://db/f?password=s3cret&user=app",
                "postgres://db/f?password=***&user=app",
            ),
        ] {
            assert_eq!(redact(url), shown, "{url}");
            let location = StoreLocation::Postgres(url.to_owned());
            assert_eq!(location.to_string(), shown);
            assert_eq!(format!("{location:?}"), shown);
        }
    }
}
