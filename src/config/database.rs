//! Validation of the `[[database]]` entries, and the rule that no sync set
//! may copy the data folder of a running database server.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use toml::Spanned;

use super::{
    nested, CheckedSet, Checker, ConfigError, Database, DatabaseKind, DatabaseSelection, DbConnection, RawDatabase,
    RawDatabaseList,
};

impl Checker<'_> {
    /// Validates one `[[database]]` entry against the sets and the entries before it.
    pub(super) fn database(
        &self,
        index: usize,
        raw: Spanned<RawDatabase>,
        sets: &[CheckedSet],
        earlier: &[Database],
    ) -> Result<Database, ConfigError> {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        let valid_name = !name.is_empty()
            && name.len() <= 64
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(self.error(
                raw.name.span(),
                &format!("database[{index}].name"),
                "bad_database_name",
                &[("value", &name)],
                "fix_database_name",
            ));
        }
        let key = |field: &str| format!("database.{name}.{field}");
        if earlier.iter().any(|d| d.name == name) {
            return Err(self.error(
                span,
                &key("name"),
                "duplicate_database",
                &[("name", &name)],
                "fix_duplicate_database",
            ));
        }
        let kind = match raw.kind.get_ref().as_str() {
            "mysql" | "mariadb" => DatabaseKind::Mysql,
            "postgresql" | "postgres" => DatabaseKind::Postgresql,
            other => {
                return Err(self.error(
                    raw.kind.span(),
                    &key("kind"),
                    "bad_database_kind",
                    &[("value", &other)],
                    "fix_database_kind",
                ))
            }
        };
        let connection = self.db_connection(&raw, kind, span.clone(), &key)?;
        let user = match &raw.user {
            Some(user) => user.get_ref().clone(),
            None if kind == DatabaseKind::Mysql => "root".to_string(),
            None => "postgres".to_string(),
        };
        let password_file = match &raw.password_file {
            Some(value) => Some(self.password_file(value, &key("password_file"))?),
            None => None,
        };
        let databases = self.database_selection(raw.databases.as_ref(), &key("databases"))?;
        let dump_dir = self.absolute(&raw.dump_dir, &key("dump_dir"))?;
        let dump_set = self.dump_set(&raw.dump_dir, &dump_dir, sets, earlier, &key("dump_dir"))?;
        let bin_dir = match &raw.bin_dir {
            Some(value) => Some(self.absolute(value, &key("bin_dir"))?),
            None => None,
        };
        let datadir = match &raw.datadir {
            Some(value) => Some(self.absolute(value, &key("datadir"))?),
            None => None,
        };
        Ok(Database {
            name,
            kind,
            connection,
            user,
            password_file,
            databases,
            dump_dir,
            dump_set,
            bin_dir,
            datadir,
        })
    }

    fn db_connection(
        &self,
        raw: &RawDatabase,
        kind: DatabaseKind,
        span: std::ops::Range<usize>,
        key: &dyn Fn(&str) -> String,
    ) -> Result<DbConnection, ConfigError> {
        let connection_error = |span| {
            self.error(
                span,
                &key("socket"),
                "database_connection",
                &[],
                "fix_database_connection",
            )
        };
        match (&raw.socket, &raw.host) {
            (Some(socket), None) => {
                let port = match &raw.port {
                    Some(port) if kind == DatabaseKind::Mysql => return Err(connection_error(port.span())),
                    Some(port) => Some(self.port(port, &key("port"))?),
                    None => None,
                };
                let path = self.absolute(socket, &key("socket"))?;
                Ok(DbConnection::Socket { path, port })
            }
            (None, Some(host)) if !host.get_ref().trim().is_empty() => {
                let port = match &raw.port {
                    Some(port) => self.port(port, &key("port"))?,
                    None if kind == DatabaseKind::Mysql => 3306,
                    None => 5432,
                };
                Ok(DbConnection::Tcp {
                    host: host.get_ref().trim().to_string(),
                    port,
                })
            }
            (Some(_), Some(host)) => Err(connection_error(host.span())),
            (None, Some(host)) => Err(connection_error(host.span())),
            (None, None) => Err(connection_error(span)),
        }
    }

    fn port(&self, value: &Spanned<i64>, key: &str) -> Result<u16, ConfigError> {
        match u16::try_from(*value.get_ref()) {
            Ok(port) if port > 0 => Ok(port),
            _ => Err(self.error(
                value.span(),
                key,
                "bad_port",
                &[("value", value.get_ref())],
                "fix_database_port",
            )),
        }
    }

    /// Checks that the password file exists, belongs to root and is closed to group and others.
    fn password_file(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        let path = self.absolute(value, key)?;
        let meta = std::fs::metadata(&path).map_err(|e| {
            self.error(
                value.span(),
                key,
                "password_file_missing",
                &[("path", &path.display()), ("error", &e)],
                "fix_password_file_missing",
            )
        })?;
        if meta.uid() != 0 || meta.mode() & 0o077 != 0 {
            let mut error = self.error(
                value.span(),
                key,
                "password_file_open",
                &[
                    ("path", &path.display()),
                    ("uid", &meta.uid()),
                    ("mode", &format_args!("{:o}", meta.mode() & 0o7777)),
                ],
                "fix_password_file_open",
            );
            if let ConfigError::Invalid { fix, .. } = &mut error {
                let shown = path.display().to_string();
                *fix = fix.replace("ARCHIVO", &shown).replace("FILE", &shown);
            }
            return Err(error);
        }
        Ok(path)
    }

    fn database_selection(
        &self,
        value: Option<&Spanned<RawDatabaseList>>,
        key: &str,
    ) -> Result<DatabaseSelection, ConfigError> {
        let Some(value) = value else {
            return Ok(DatabaseSelection::All);
        };
        let invalid = |shown: &dyn std::fmt::Display| {
            self.error(value.span(), key, "bad_databases", &[("value", shown)], "fix_databases")
        };
        match value.get_ref() {
            RawDatabaseList::Word(word) if word == "all" => Ok(DatabaseSelection::All),
            RawDatabaseList::Word(word) => Err(invalid(&format_args!("\"{word}\""))),
            RawDatabaseList::Names(names) => {
                if names.is_empty() || names.iter().any(|n| n.trim().is_empty()) {
                    return Err(invalid(&format_args!("{names:?}")));
                }
                Ok(DatabaseSelection::Named(names.clone()))
            }
        }
    }

    /// Returns the set whose source contains `dump_dir`; the dump folder must
    /// also be its entry's own, so two servers never overwrite each other's dumps.
    fn dump_set(
        &self,
        value: &Spanned<String>,
        dump_dir: &Path,
        sets: &[CheckedSet],
        earlier: &[Database],
        key: &str,
    ) -> Result<String, ConfigError> {
        if let Some(other) = earlier.iter().find(|d| nested(&d.dump_dir, dump_dir)) {
            return Err(self.error(
                value.span(),
                key,
                "dump_dir_shared",
                &[("path", &dump_dir.display()), ("other", &other.name)],
                "fix_dump_dir_shared",
            ));
        }
        match sets.iter().find(|s| dump_dir.starts_with(&s.set.source)) {
            Some(set) => Ok(set.set.name.clone()),
            None => Err(self.error(
                value.span(),
                key,
                "dump_dir_not_synced",
                &[("path", &dump_dir.display())],
                "fix_dump_dir_not_synced",
            )),
        }
    }

    /// Rejects a set whose source contains, equals or lies inside the data
    /// folder of a database server running on this host, unless the set
    /// excludes that folder.
    pub(super) fn check_live_datadirs(&self, sets: &[CheckedSet], databases: &[Database]) -> Result<(), ConfigError> {
        if sets.is_empty() {
            return Ok(());
        }
        let configured: Vec<PathBuf> = databases.iter().filter_map(|d| d.datadir.clone()).collect();
        let servers = crate::db::live::running_servers(&configured);
        for checked in sets {
            let set = &checked.set;
            for server in &servers {
                if !nested(&set.source, &server.datadir) || excluded(set, &server.datadir) {
                    continue;
                }
                return Err(self.error(
                    checked.source_span.clone(),
                    &format!("sync.{}.source", set.name),
                    "live_datadir_in_set",
                    &[
                        ("source", &set.source.display()),
                        ("datadir", &server.datadir.display()),
                        ("server", &format_args!("{}, pid {}", server.program, server.pid)),
                    ],
                    "fix_live_datadir_in_set",
                ));
            }
        }
        Ok(())
    }
}

/// True when `datadir` lies strictly inside the set's source and one of its
/// folders on the way there matches an exclude pattern.
fn excluded(set: &super::SyncSet, datadir: &Path) -> bool {
    let Ok(relative) = datadir.strip_prefix(&set.source) else {
        return false;
    };
    if relative.as_os_str().is_empty() {
        return false;
    }
    let Ok(excludes) = crate::sync::walk::Excludes::new(&set.exclude) else {
        return false;
    };
    let mut prefix = PathBuf::new();
    for part in relative.components() {
        prefix.push(part);
        if excludes.is_excluded(&prefix, part.as_os_str(), true) {
            return true;
        }
    }
    false
}
