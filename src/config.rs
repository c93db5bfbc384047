//! drkit.toml: the configuration types, their defaults and validation.
//!
//! The file is parsed into `Raw*` types that keep the span of every value,
//! then validated into `Config`. Every error names the file, the line and
//! column, the key and the fix, and nothing on disk is touched before the
//! whole file has been accepted.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::i18n::{self, Lang, Row};

mod database;

/// Messages of config errors: the problem, then the fix.
const TEXTS: &[Row] = &[
    ("fix_label", "fix", "solución"),
    (
        "read_failed",
        "{path}: cannot read the config file: {error}",
        "{path}: no se puede leer el archivo de configuración: {error}",
    ),
    (
        "fix_read",
        "create it (README.md, \"Configuration\", shows an example) or pass --config FILE",
        "créelo (README.es.md, \"Configuración\", trae un ejemplo) o indique --config ARCHIVO",
    ),
    (
        "unknown_key",
        "unknown key {key}; the keys accepted here are {expected}",
        "clave desconocida {key}; aquí se aceptan {expected}",
    ),
    (
        "fix_unknown_key",
        "remove the key or correct its spelling",
        "quite la clave o corrija cómo está escrita",
    ),
    (
        "missing_key",
        "the required key {key} is missing",
        "falta la clave obligatoria {key}",
    ),
    (
        "fix_missing_key",
        "add the key; README.md, \"Configuration\", lists every key",
        "añada la clave; README.es.md, \"Configuración\", lista todas las claves",
    ),
    (
        "invalid_type",
        "wrong type: found {found}, expected {expected}",
        "tipo incorrecto: se encontró {found}, se esperaba {expected}",
    ),
    (
        "fix_invalid_type",
        "write the value in the expected form; README.md, \"Configuration\", shows an example of every key",
        "escriba el valor en la forma esperada; README.es.md, \"Configuración\", muestra un ejemplo de cada clave",
    ),
    (
        "type_string",
        "text in quotes, such as \"60s\"",
        "un texto entre comillas, como \"60s\"",
    ),
    (
        "type_list",
        "a list in brackets, such as [\"*.tmp\"]",
        "una lista entre corchetes, como [\"*.tmp\"]",
    ),
    ("type_integer", "a whole number, such as 7", "un número entero, como 7"),
    ("type_boolean", "true or false", "true o false"),
    (
        "invalid_toml",
        "invalid TOML or value: {detail}",
        "TOML o valor no válido: {detail}",
    ),
    (
        "fix_invalid_toml",
        "correct the value or the TOML syntax at this position",
        "corrija el valor o la sintaxis TOML en esta posición",
    ),
    (
        "site_name_empty",
        "the site name is empty",
        "el nombre del sitio está vacío",
    ),
    (
        "fix_site_name",
        "set a short name such as \"web1\"",
        "ponga un nombre corto como \"web1\"",
    ),
    (
        "bad_language",
        "unsupported language \"{value}\"",
        "idioma no admitido \"{value}\"",
    ),
    ("fix_language", "use \"en\" or \"es\"", "use \"en\" o \"es\""),
    (
        "bad_duration",
        "invalid duration \"{value}\"",
        "duración no válida \"{value}\"",
    ),
    (
        "fix_duration",
        "write a number above zero with a unit (ms, s, m, h, d), such as \"15m\", \"60s\" or \"1h30m\"",
        "escriba un número mayor que cero con su unidad (ms, s, m, h, d), como \"15m\", \"60s\" o \"1h30m\"",
    ),
    ("path_empty", "the path is empty", "la ruta está vacía"),
    (
        "path_relative",
        "\"{value}\" is not an absolute path",
        "\"{value}\" no es una ruta absoluta",
    ),
    (
        "fix_path",
        "write the whole path from the root, such as \"/var/www\"",
        "escriba la ruta completa desde la raíz, como \"/var/www\"",
    ),
    (
        "bad_set_name",
        "invalid set name \"{value}\"",
        "nombre de conjunto no válido \"{value}\"",
    ),
    (
        "fix_set_name",
        "use 1-64 letters, digits, '-' or '_', such as \"www\"",
        "use de 1 a 64 letras, cifras, '-' o '_', como \"www\"",
    ),
    (
        "bad_pattern",
        "invalid pattern \"{value}\": {detail}",
        "patrón no válido \"{value}\": {detail}",
    ),
    (
        "fix_pattern",
        "use shell wildcards such as \"*.tmp\" or \"cache/\"",
        "use comodines de shell como \"*.tmp\" o \"cache/\"",
    ),
    (
        "bad_max_delete",
        "invalid limit \"{value}\"",
        "límite no válido \"{value}\"",
    ),
    (
        "fix_max_delete",
        "write a percentage of the replica's files such as \"10%\", or a file count such as \"500\"",
        "escriba un porcentaje de los archivos de la réplica como \"10%\", o un número de archivos como \"500\"",
    ),
    (
        "bad_keep_versions",
        "invalid count {value}",
        "cantidad no válida {value}",
    ),
    (
        "fix_keep_versions",
        "use a whole number from 0 (no versions) to 10000",
        "use un número entero de 0 (sin versiones) a 10000",
    ),
    (
        "bad_keep_batch_versions",
        "invalid count {value}",
        "cantidad no válida {value}",
    ),
    (
        "fix_keep_batch_versions",
        "use a whole number from 0 (no batch versions) to 100000",
        "use un número entero de 0 (sin versiones por lotes) a 100000",
    ),
    (
        "overlap_source_target",
        "the target {target} and the source {source} overlap",
        "el destino {target} y el origen {source} se solapan",
    ),
    (
        "fix_overlap_source_target",
        "put the replica outside the source tree, and the source outside the replica",
        "ponga la réplica fuera del árbol de origen, y el origen fuera de la réplica",
    ),
    (
        "overlap_versions",
        "the versions folder {path} lies inside the source or the target",
        "la carpeta de versiones {path} está dentro del origen o del destino",
    ),
    (
        "fix_overlap_versions",
        "set versions_dir to a folder beside the target, on the same file system",
        "ponga versions_dir en una carpeta junto al destino, en el mismo sistema de archivos",
    ),
    (
        "inside_replica",
        "{path} lies inside the replica of set \"{set}\" ({target})",
        "{path} está dentro de la réplica del conjunto \"{set}\" ({target})",
    ),
    (
        "fix_inside_replica",
        "move it out of every sync target",
        "muévalo fuera de todos los destinos de sincronización",
    ),
    (
        "duplicate_set",
        "the set name \"{set}\" is used twice",
        "el nombre de conjunto \"{set}\" se usa dos veces",
    ),
    (
        "fix_duplicate_set",
        "give every [[sync]] entry its own name",
        "dé a cada entrada [[sync]] su propio nombre",
    ),
    (
        "overlap_targets",
        "the target {target} overlaps the target {other} of set \"{set}\"",
        "el destino {target} se solapa con el destino {other} del conjunto \"{set}\"",
    ),
    (
        "fix_overlap_targets",
        "give every set its own replica folder, with no set inside another",
        "dé a cada conjunto su propia carpeta de réplica, sin ninguna dentro de otra",
    ),
    (
        "overlap_sets",
        "set \"{set}\" and set \"{other}\" overlap: one replicates into the other's source or target",
        "los conjuntos \"{set}\" y \"{other}\" se solapan: uno replica dentro del origen o del destino del otro",
    ),
    (
        "fix_overlap_sets",
        "keep every replica outside every source",
        "mantenga cada réplica fuera de todos los orígenes",
    ),
    (
        "bad_node_name",
        "invalid node name \"{value}\"",
        "nombre de nodo no válido \"{value}\"",
    ),
    (
        "fix_node_name",
        "use 1-64 letters, digits, '-' or '_' after [nodes.], such as [nodes.secondary]",
        "use de 1 a 64 letras, cifras, '-' o '_' tras [nodes.], como [nodes.secondary]",
    ),
    ("node_address_empty", "the address is empty", "la dirección está vacía"),
    (
        "fix_node_address",
        "write the peer's host name or IP address, such as \"dr2.example.com\"",
        "escriba el nombre de host o la dirección IP del par, como \"dr2.example.com\"",
    ),
    ("bad_port", "invalid port {value}", "puerto no válido {value}"),
    (
        "fix_port",
        "use a TCP port from 1 to 65535; sshd listens on 22 unless its Port setting says otherwise",
        "use un puerto TCP de 1 a 65535; sshd escucha en el 22 salvo que su opción Port diga otro",
    ),
    ("value_empty", "the value is empty", "el valor está vacío"),
    (
        "fix_user",
        "write the user drkit logs in as on the peer, such as \"root\"",
        "escriba el usuario con el que drkit entra en el par, como \"root\"",
    ),
    (
        "fix_agent",
        "write the command that starts the agent on the peer, such as \"drkit agent --root /\"",
        "escriba la orden que arranca el agente en el par, como \"drkit agent --root /\"",
    ),
    (
        "unknown_peer",
        "no node is named \"{value}\"; the config defines: {known}",
        "ningún nodo se llama \"{value}\"; la configuración define: {known}",
    ),
    (
        "fix_unknown_peer",
        "name one of the [nodes.NAME] sections, or add a section for this peer",
        "nombre una de las secciones [nodes.NOMBRE], o añada una sección para este par",
    ),
    ("no_nodes", "(no [nodes.*] section)", "(ninguna sección [nodes.*])"),
    (
        "bad_bwlimit",
        "invalid bandwidth limit \"{value}\"",
        "límite de ancho de banda no válido \"{value}\"",
    ),
    (
        "fix_bwlimit",
        "write bytes per second above zero, with an optional K, M or G suffix (powers of 1024), such as \"20M\"",
        "escriba bytes por segundo, más de cero, con un sufijo K, M o G opcional (potencias de 1024), como \"20M\"",
    ),
    (
        "bad_database_name",
        "invalid database entry name \"{value}\"",
        "nombre de entrada de base de datos no válido \"{value}\"",
    ),
    (
        "fix_database_name",
        "use 1-64 letters, digits, '-' or '_', such as \"main\"",
        "use de 1 a 64 letras, cifras, '-' o '_', como \"main\"",
    ),
    (
        "duplicate_database",
        "the database entry name \"{name}\" is used twice",
        "el nombre de entrada de base de datos \"{name}\" se usa dos veces",
    ),
    (
        "fix_duplicate_database",
        "give every [[database]] entry its own name",
        "dé a cada entrada [[database]] su propio nombre",
    ),
    (
        "bad_database_kind",
        "unsupported database kind \"{value}\"",
        "tipo de base de datos no admitido \"{value}\"",
    ),
    (
        "fix_database_kind",
        "use \"mysql\" (MariaDB or MySQL) or \"postgresql\"",
        "use \"mysql\" (MariaDB o MySQL) o \"postgresql\"",
    ),
    (
        "database_connection",
        "set either socket or host (with an optional port), not both and not neither",
        "indique socket o host (con port opcional), no ambos ni ninguno",
    ),
    (
        "fix_database_connection",
        "write socket = \"/run/mysqld/mysqld.sock\" (for PostgreSQL the socket folder, such as \"/run/postgresql\"), or host = \"127.0.0.1\" and port = 3306",
        "escriba socket = \"/run/mysqld/mysqld.sock\" (para PostgreSQL la carpeta del socket, como \"/run/postgresql\"), o host = \"127.0.0.1\" y port = 3306",
    ),
    (
        "fix_database_port",
        "use a whole number from 1 to 65535, such as 3306 or 5432",
        "use un número entero de 1 a 65535, como 3306 o 5432",
    ),
    (
        "bad_databases",
        "invalid database list {value}",
        "lista de bases de datos no válida {value}",
    ),
    (
        "fix_databases",
        "write \"all\" or a list of names such as [\"wordpress\", \"shop\"]",
        "escriba \"all\" o una lista de nombres como [\"wordpress\", \"shop\"]",
    ),
    (
        "password_file_missing",
        "cannot read the password file {path}: {error}",
        "no se puede leer el archivo de contraseña {path}: {error}",
    ),
    (
        "fix_password_file_missing",
        "create the file with the password on its first line, owned by root with mode 600",
        "cree el archivo con la contraseña en su primera línea, propiedad de root y con modo 600",
    ),
    (
        "password_file_open",
        "the password file {path} is owned by uid {uid} with mode {mode}; it must be owned by root and unreadable by group and others",
        "el archivo de contraseña {path} pertenece al uid {uid} y tiene modo {mode}; debe pertenecer a root y no ser legible por el grupo ni por otros",
    ),
    (
        "fix_password_file_open",
        "run: chown root:root FILE && chmod 600 FILE",
        "ejecute: chown root:root ARCHIVO && chmod 600 ARCHIVO",
    ),
    (
        "dump_dir_not_synced",
        "the dump folder {path} lies inside no [[sync]] source, so its dumps would never reach the secondary",
        "la carpeta de volcados {path} no está dentro de ningún origen [[sync]], así que sus volcados nunca llegarían al secundario",
    ),
    (
        "fix_dump_dir_not_synced",
        "add a [[sync]] set whose source contains it, such as: [[sync]] name = \"db-dumps\", source = the dump folder, target = a folder on the secondary",
        "añada un conjunto [[sync]] cuyo origen la contenga, como: [[sync]] name = \"db-dumps\", source = la carpeta de volcados, target = una carpeta en el secundario",
    ),
    (
        "dump_dir_shared",
        "the dump folder {path} overlaps the dump folder of database entry \"{other}\"",
        "la carpeta de volcados {path} se solapa con la de la entrada de base de datos \"{other}\"",
    ),
    (
        "fix_dump_dir_shared",
        "give every [[database]] entry its own dump folder, with none inside another",
        "dé a cada entrada [[database]] su propia carpeta de volcados, sin ninguna dentro de otra",
    ),
    (
        "live_datadir_in_set",
        "the source {source} contains the data folder {datadir} of a running database server ({server}); copying the files of a live InnoDB or PostgreSQL server gives a broken replica, because they change while they are read",
        "el origen {source} contiene la carpeta de datos {datadir} de un servidor de bases de datos en marcha ({server}); copiar los archivos de un servidor InnoDB o PostgreSQL en marcha da una réplica rota, porque cambian mientras se leen",
    ),
    (
        "fix_live_datadir_in_set",
        "exclude the data folder from the set (or choose a source outside it) and replicate the databases with a [[database]] entry, whose consistent dumps `drkit db dump` writes into a synced folder",
        "excluya la carpeta de datos del conjunto (o elija un origen fuera de ella) y replique las bases de datos con una entrada [[database]], cuyos volcados coherentes escribe `drkit db dump` en una carpeta sincronizada",
    ),
];

/// Names the TOML type serde expected, in the user's language.
fn describe_type(lang: Lang, expected: &str) -> String {
    let key = match expected {
        "a string" => "type_string",
        "a sequence" => "type_list",
        "i64" | "u32" | "u64" | "an integer" => "type_integer",
        "a boolean" => "type_boolean",
        _ => return expected.to_string(),
    };
    text(lang, key).to_string()
}

fn text(lang: Lang, key: &str) -> &'static str {
    i18n::text(TEXTS, lang, key)
}

fn read_error_text(lang: Lang, path: &Path, error: &std::io::Error) -> String {
    let problem = i18n::format(
        TEXTS,
        lang,
        "read_failed",
        &[("path", &path.display()), ("error", error)],
    );
    format!("{problem}\n  {}: {}", text(lang, "fix_label"), text(lang, "fix_read"))
}

/// Config path used when neither `--config` nor `DRKIT_CONFIG` is set.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/drkit/drkit.toml";

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub site: Site,
    pub targets: Targets,
    pub sets: Vec<SyncSet>,
    /// The `[[database]]` entries: servers whose databases `drkit db dump` writes into a synced folder.
    pub databases: Vec<Database>,
    /// The `[jobs] dir` setting; `job_dir` resolves the default.
    pub jobs_dir: Option<PathBuf>,
    /// The `[nodes.NAME]` sections: peers reached over SSH, by name.
    pub nodes: BTreeMap<String, Node>,
}

impl Config {
    /// Returns the node a set replicates to, or None for a set with a local target.
    pub fn node_of(&self, set: &SyncSet) -> Option<&Node> {
        self.nodes.get(set.peer.as_deref()?)
    }

    /// Returns the folder job files are read from: `[jobs] dir` when set, else
    /// `jobs` beside the config file.
    pub fn job_dir(&self) -> PathBuf {
        match &self.jobs_dir {
            Some(dir) => dir.clone(),
            None => self.path.parent().unwrap_or(Path::new("")).join("jobs"),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Site {
    pub name: String,
    pub data_dir: PathBuf,
    pub report_dir: PathBuf,
    pub language: Lang,
}

/// Recovery objectives the reports measure against.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    pub rto: Duration,
    pub rpo: Duration,
}

/// Default `keep_batch_versions`: a day of restore points, one per minute.
pub const DEFAULT_KEEP_BATCH_VERSIONS: u32 = 1440;

/// One replicated directory tree.
#[derive(Debug, Clone)]
pub struct SyncSet {
    pub name: String,
    pub source: PathBuf,
    /// The replica: a local path, or a path on `peer` when that is set.
    pub target: PathBuf,
    pub exclude: Vec<String>,
    pub max_delete: MaxDelete,
    pub keep_versions: u32,
    /// Batch versions kept: the small versions a watcher takes before each
    /// batch of changes, merged to one per minute once the minute is over.
    pub keep_batch_versions: u32,
    /// The versions folder, on the same host as `target`.
    pub versions_dir: PathBuf,
    /// The `[nodes.NAME]` the replica lives on; None for a local target.
    pub peer: Option<String>,
    /// Compress file data with zstd on the wire to the peer.
    pub compress: bool,
    /// Maximum bytes per second sent to the peer; None for no limit.
    pub bwlimit: Option<u64>,
}

/// A peer reached over SSH, from a `[nodes.NAME]` section.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub name: String,
    /// Host name or IP address, as written in the config.
    pub address: String,
    pub port: u16,
    pub user: String,
    /// Private key for public-key authentication.
    pub key: PathBuf,
    /// The OpenSSH known_hosts file that pins the peer's host key.
    pub known_hosts: PathBuf,
    /// Bound on the TCP connection, the SSH handshake and the authentication.
    pub connect_timeout: Duration,
    /// Bound on each blocking SSH operation once connected.
    pub timeout: Duration,
    /// Command run on the peer to start the agent.
    pub agent: String,
}

/// Default `known_hosts` of a node.
pub const DEFAULT_KNOWN_HOSTS: &str = "/etc/drkit/ssh/known_hosts";

/// Default `agent` command of a node.
pub const DEFAULT_AGENT: &str = "drkit agent --root /";
/// One database server whose databases are dumped into a folder of a sync set.
#[derive(Debug, Clone)]
pub struct Database {
    pub name: String,
    pub kind: DatabaseKind,
    pub connection: DbConnection,
    /// Login name; defaults to "root" (MySQL) or "postgres" (PostgreSQL).
    pub user: String,
    /// File whose first line is the password; owned by root, mode 0600 or stricter.
    pub password_file: Option<PathBuf>,
    pub databases: DatabaseSelection,
    /// Absolute folder inside the source of `dump_set`.
    pub dump_dir: PathBuf,
    /// The sync set whose source contains `dump_dir`.
    pub dump_set: String,
    /// Folder holding the client programs, when they are not on PATH.
    pub bin_dir: Option<PathBuf>,
    /// The server's data folder, when given: a sync set may not contain it while the server runs.
    pub datadir: Option<PathBuf>,
}

/// The server software behind a `[[database]]` entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DatabaseKind {
    /// MariaDB or MySQL.
    Mysql,
    Postgresql,
}

impl DatabaseKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DatabaseKind::Mysql => "mysql",
            DatabaseKind::Postgresql => "postgresql",
        }
    }
}

/// How the client programs reach the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DbConnection {
    /// A Unix socket: the socket file for MySQL; for PostgreSQL the socket
    /// folder and the port that names the socket file in it.
    Socket {
        path: PathBuf,
        port: Option<u16>,
    },
    Tcp {
        host: String,
        port: u16,
    },
}

impl fmt::Display for DbConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DbConnection::Socket { path, .. } => write!(f, "socket {}", path.display()),
            DbConnection::Tcp { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

/// Which databases of a server are dumped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseSelection {
    /// Every database except the server's own (mysql, information_schema,
    /// performance_schema, sys; template0 and template1).
    All,
    Named(Vec<String>),
}

/// Upper bound on deletions in one sync, beyond which the deletion guard stops it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MaxDelete {
    /// Percentage of the replica's files (0-100).
    Percent(f64),
    /// Absolute number of files.
    Count(u64),
}

impl MaxDelete {
    /// Returns the number of deletions allowed on a replica holding `replica_files` files.
    pub fn allowed(self, replica_files: u64) -> u64 {
        match self {
            MaxDelete::Count(n) => n,
            MaxDelete::Percent(p) => ((replica_files as f64) * p / 100.0).floor() as u64,
        }
    }

    /// Parses "10%" or "500".
    pub fn parse(text: &str) -> Option<MaxDelete> {
        let text = text.trim();
        if let Some(number) = text.strip_suffix('%') {
            let p: f64 = number.trim().parse().ok()?;
            return (0.0..=100.0).contains(&p).then_some(MaxDelete::Percent(p));
        }
        text.parse().ok().map(MaxDelete::Count)
    }
}

impl fmt::Display for MaxDelete {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MaxDelete::Percent(p) => write!(f, "{p}%"),
            MaxDelete::Count(n) => write!(f, "{n}"),
        }
    }
}

/// A rejected configuration, with the position of the offending value.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{}", read_error_text(*.lang, path, source))]
    Read {
        path: PathBuf,
        source: std::io::Error,
        lang: Lang,
    },
    #[error("{path}:{line}:{column}: {key}: {message}\n  {}: {fix}", text(*.lang, "fix_label"))]
    Invalid {
        path: PathBuf,
        line: usize,
        column: usize,
        key: String,
        message: String,
        fix: String,
        lang: Lang,
    },
}

impl ConfigError {
    /// Returns the language the message is written in.
    pub fn lang(&self) -> Lang {
        match self {
            ConfigError::Read { lang, .. } | ConfigError::Invalid { lang, .. } => *lang,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    site: Spanned<RawSite>,
    targets: Option<Spanned<RawTargets>>,
    #[serde(default)]
    sync: Vec<Spanned<RawSync>>,
    #[serde(default)]
    database: Vec<Spanned<RawDatabase>>,
    jobs: Option<RawJobs>,
    #[serde(default)]
    nodes: BTreeMap<Spanned<String>, Spanned<RawNode>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    address: Spanned<String>,
    port: Option<Spanned<i64>>,
    user: Option<Spanned<String>>,
    key: Spanned<String>,
    known_hosts: Option<Spanned<String>>,
    connect_timeout: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    agent: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSite {
    name: Spanned<String>,
    data_dir: Spanned<String>,
    report_dir: Spanned<String>,
    language: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTargets {
    rto: Option<Spanned<String>>,
    rpo: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSync {
    name: Spanned<String>,
    source: Spanned<String>,
    target: Spanned<String>,
    #[serde(default)]
    exclude: Vec<Spanned<String>>,
    max_delete: Option<Spanned<String>>,
    keep_versions: Option<Spanned<i64>>,
    keep_batch_versions: Option<Spanned<i64>>,
    versions_dir: Option<Spanned<String>>,
    peer: Option<Spanned<String>>,
    compress: Option<bool>,
    bwlimit: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDatabase {
    name: Spanned<String>,
    kind: Spanned<String>,
    socket: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    user: Option<Spanned<String>>,
    password_file: Option<Spanned<String>>,
    databases: Option<Spanned<RawDatabaseList>>,
    dump_dir: Spanned<String>,
    bin_dir: Option<Spanned<String>>,
    datadir: Option<Spanned<String>>,
}

/// `databases = "all"` or `databases = ["a", "b"]`.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawDatabaseList {
    Word(String),
    Names(Vec<String>),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawJobs {
    dir: Option<Spanned<String>>,
}

/// Finds the config path: the flag, else `DRKIT_CONFIG`, else the default.
pub fn resolve_path(flag: Option<&Path>) -> PathBuf {
    if let Some(path) = flag {
        return path.to_path_buf();
    }
    match std::env::var_os("DRKIT_CONFIG") {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => PathBuf::from(DEFAULT_CONFIG_PATH),
    }
}

/// Reads and validates the config at `path`. Errors are written in `lang`
/// when given, else in the file's `site.language`, else from LANG.
pub fn load(path: &Path, lang: Option<Lang>) -> Result<Config, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
        lang: lang.unwrap_or_else(Lang::from_env),
    })?;
    parse(path, &text, lang)
}

/// Validates config `text` that was read from `path`.
pub fn parse(path: &Path, text: &str, lang: Option<Lang>) -> Result<Config, ConfigError> {
    let lang = lang.or_else(|| declared_language(text)).unwrap_or_else(Lang::from_env);
    let checker = Checker { path, text, lang };
    let raw: RawConfig = toml::from_str(text).map_err(|e| checker.toml_error(&e))?;
    checker.validate(raw)
}

/// Returns the `site.language` of a config text that is valid TOML.
fn declared_language(text: &str) -> Option<Lang> {
    let table: toml::Table = text.parse().ok()?;
    Lang::from_code(table.get("site")?.as_table()?.get("language")?.as_str()?)
}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
    lang: Lang,
}

impl Checker<'_> {
    /// Builds the error for the value at `span`: `message` is a text key
    /// filled with `args`, `fix` a text key.
    fn error(
        &self,
        span: std::ops::Range<usize>,
        key: &str,
        message: &str,
        args: &[(&str, &dyn fmt::Display)],
        fix: &str,
    ) -> ConfigError {
        let (line, column) = line_column(self.text, span.start);
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.to_string(),
            message: i18n::format(TEXTS, self.lang, message, args),
            fix: text(self.lang, fix).to_string(),
            lang: self.lang,
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let detail = e.message().trim().to_string();
        let key = self.key_at(span.start);
        if let Some(rest) = detail.strip_prefix("unknown field ") {
            let (field, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let expected = expected.trim_start_matches("one of ");
            return self.error(
                span,
                &key,
                "unknown_key",
                &[("key", &field), ("expected", &expected)],
                "fix_unknown_key",
            );
        }
        if let Some(field) = detail.strip_prefix("missing field ") {
            return self.error(span, &key, "missing_key", &[("key", &field)], "fix_missing_key");
        }
        if let Some(rest) = detail.strip_prefix("invalid type: ") {
            let (found, expected) = rest.split_once(", expected ").unwrap_or((rest, ""));
            let expected = describe_type(self.lang, expected);
            return self.error(
                span,
                &key,
                "invalid_type",
                &[("found", &found), ("expected", &expected)],
                "fix_invalid_type",
            );
        }
        self.error(span, &key, "invalid_toml", &[("detail", &detail)], "fix_invalid_toml")
    }

    /// Returns the dotted key written on the line holding byte offset `at`
    /// ("targets.rpo"), or the table header when that line is a header.
    fn key_at(&self, at: usize) -> String {
        let at = at.min(self.text.len());
        let line_start = self.text[..at].rfind('\n').map_or(0, |i| i + 1);
        let line = self.text[line_start..].lines().next().unwrap_or("").trim();
        let table = self.text[..line_start]
            .lines()
            .rev()
            .map(str::trim)
            .find(|l| l.starts_with('['))
            .map(|l| l.trim_matches(|c| c == '[' || c == ']').trim().to_string())
            .unwrap_or_default();
        if line.starts_with('[') {
            return line.trim_matches(|c| c == '[' || c == ']').trim().to_string();
        }
        let key = line.split('=').next().unwrap_or("").trim();
        match (key.is_empty() || !line.contains('='), table.is_empty()) {
            (true, true) => "(document)".to_string(),
            (true, false) => table,
            (false, true) => key.to_string(),
            (false, false) => format!("{table}.{key}"),
        }
    }

    fn validate(&self, raw: RawConfig) -> Result<Config, ConfigError> {
        let site = self.site(raw.site.into_inner())?;
        let targets = self.targets(raw.targets)?;
        let mut nodes = BTreeMap::new();
        for (name, node) in raw.nodes {
            let node = self.node(name, node)?;
            nodes.insert(node.name.clone(), node);
        }
        let mut sets = Vec::new();
        for (index, set) in raw.sync.into_iter().enumerate() {
            sets.push(self.sync_set(index, set, &nodes)?);
        }
        self.check_overlaps(&sets, &site)?;
        let mut databases = Vec::new();
        for (index, entry) in raw.database.into_iter().enumerate() {
            let database = self.database(index, entry, &sets, &databases)?;
            databases.push(database);
        }
        self.check_live_datadirs(&sets, &databases)?;
        let jobs_dir = match raw.jobs.and_then(|j| j.dir) {
            Some(dir) => Some(self.absolute(&dir, "jobs.dir")?),
            None => None,
        };
        Ok(Config {
            path: self.path.to_path_buf(),
            site: site.site,
            targets,
            sets: sets.into_iter().map(|s| s.set).collect(),
            databases,
            jobs_dir,
            nodes,
        })
    }

    fn site(&self, raw: RawSite) -> Result<CheckedSite, ConfigError> {
        let name = raw.name.get_ref().trim().to_string();
        if name.is_empty() {
            return Err(self.error(raw.name.span(), "site.name", "site_name_empty", &[], "fix_site_name"));
        }
        let language = match &raw.language {
            Some(value) => Lang::from_code(value.get_ref()).ok_or_else(|| {
                self.error(
                    value.span(),
                    "site.language",
                    "bad_language",
                    &[("value", value.get_ref())],
                    "fix_language",
                )
            })?,
            None => Lang::from_env(),
        };
        Ok(CheckedSite {
            data_dir_span: raw.data_dir.span(),
            report_dir_span: raw.report_dir.span(),
            site: Site {
                name,
                data_dir: self.absolute(&raw.data_dir, "site.data_dir")?,
                report_dir: self.absolute(&raw.report_dir, "site.report_dir")?,
                language,
            },
        })
    }

    fn targets(&self, raw: Option<Spanned<RawTargets>>) -> Result<Targets, ConfigError> {
        let mut targets = Targets {
            rto: Duration::from_secs(15 * 60),
            rpo: Duration::from_secs(60),
        };
        let Some(raw) = raw else { return Ok(targets) };
        let raw = raw.into_inner();
        if let Some(rto) = raw.rto {
            targets.rto = self.duration(&rto, "targets.rto")?;
        }
        if let Some(rpo) = raw.rpo {
            targets.rpo = self.duration(&rpo, "targets.rpo")?;
        }
        Ok(targets)
    }

    fn duration(&self, value: &Spanned<String>, key: &str) -> Result<Duration, ConfigError> {
        match parse_duration(value.get_ref()) {
            Some(d) if !d.is_zero() => Ok(d),
            _ => Err(self.error(
                value.span(),
                key,
                "bad_duration",
                &[("value", value.get_ref())],
                "fix_duration",
            )),
        }
    }

    fn absolute(&self, value: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
        let text = value.get_ref();
        if text.trim().is_empty() {
            return Err(self.error(value.span(), key, "path_empty", &[], "fix_path"));
        }
        let path = PathBuf::from(text);
        if !path.is_absolute() {
            return Err(self.error(value.span(), key, "path_relative", &[("value", text)], "fix_path"));
        }
        Ok(normalize(&path))
    }

    fn sync_set(
        &self,
        index: usize,
        raw: Spanned<RawSync>,
        nodes: &BTreeMap<String, Node>,
    ) -> Result<CheckedSet, ConfigError> {
        let span = raw.span();
        let raw = raw.into_inner();
        let name = raw.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(self.error(
                raw.name.span(),
                &format!("sync[{index}].name"),
                "bad_set_name",
                &[("value", &name)],
                "fix_set_name",
            ));
        }
        let key = |field: &str| format!("sync.{name}.{field}");
        let source = self.absolute(&raw.source, &key("source"))?;
        let target = self.absolute(&raw.target, &key("target"))?;
        let mut exclude = Vec::new();
        for pattern in &raw.exclude {
            if let Err(e) = globset::Glob::new(pattern.get_ref().trim_end_matches('/')) {
                return Err(self.error(
                    pattern.span(),
                    &key("exclude"),
                    "bad_pattern",
                    &[("value", pattern.get_ref()), ("detail", &e)],
                    "fix_pattern",
                ));
            }
            exclude.push(pattern.get_ref().clone());
        }
        let max_delete = match &raw.max_delete {
            Some(value) => MaxDelete::parse(value.get_ref()).ok_or_else(|| {
                self.error(
                    value.span(),
                    &key("max_delete"),
                    "bad_max_delete",
                    &[("value", value.get_ref())],
                    "fix_max_delete",
                )
            })?,
            None => MaxDelete::Percent(10.0),
        };
        let keep_versions = match &raw.keep_versions {
            Some(value) if (0..=10_000).contains(value.get_ref()) => *value.get_ref() as u32,
            Some(value) => {
                return Err(self.error(
                    value.span(),
                    &key("keep_versions"),
                    "bad_keep_versions",
                    &[("value", value.get_ref())],
                    "fix_keep_versions",
                ));
            }
            None => 7,
        };
        let keep_batch_versions = match &raw.keep_batch_versions {
            Some(value) if (0..=100_000).contains(value.get_ref()) => *value.get_ref() as u32,
            Some(value) => {
                return Err(self.error(
                    value.span(),
                    &key("keep_batch_versions"),
                    "bad_keep_batch_versions",
                    &[("value", value.get_ref())],
                    "fix_keep_batch_versions",
                ));
            }
            None => DEFAULT_KEEP_BATCH_VERSIONS,
        };
        let versions_dir = match &raw.versions_dir {
            Some(value) => self.absolute(value, &key("versions_dir"))?,
            None => default_versions_dir(&target, &name),
        };
        let peer = match &raw.peer {
            Some(value) => Some(self.peer(value, &key("peer"), nodes)?),
            None => None,
        };
        let bwlimit = match &raw.bwlimit {
            Some(value) => Some(parse_bwlimit(value.get_ref()).ok_or_else(|| {
                self.error(
                    value.span(),
                    &key("bwlimit"),
                    "bad_bwlimit",
                    &[("value", value.get_ref())],
                    "fix_bwlimit",
                )
            })?),
            None => None,
        };
        Ok(CheckedSet {
            span,
            source_span: raw.source.span(),
            target_span: raw.target.span(),
            set: SyncSet {
                name,
                source,
                target,
                exclude,
                max_delete,
                keep_versions,
                keep_batch_versions,
                versions_dir,
                peer,
                compress: raw.compress.unwrap_or(false),
                bwlimit,
            },
        })
    }

    /// Checks that a set's `peer` names a `[nodes.*]` section.
    fn peer(&self, value: &Spanned<String>, key: &str, nodes: &BTreeMap<String, Node>) -> Result<String, ConfigError> {
        let name = value.get_ref();
        if nodes.contains_key(name) {
            return Ok(name.clone());
        }
        let known = if nodes.is_empty() {
            text(self.lang, "no_nodes").to_string()
        } else {
            nodes.keys().cloned().collect::<Vec<_>>().join(", ")
        };
        Err(self.error(
            value.span(),
            key,
            "unknown_peer",
            &[("value", name), ("known", &known)],
            "fix_unknown_peer",
        ))
    }

    fn node(&self, name: Spanned<String>, raw: Spanned<RawNode>) -> Result<Node, ConfigError> {
        let raw = raw.into_inner();
        let name_span = name.span();
        let name = name.into_inner();
        if !valid_name(&name) {
            return Err(self.error(
                name_span,
                &format!("nodes.{name}"),
                "bad_node_name",
                &[("value", &name)],
                "fix_node_name",
            ));
        }
        let key = |field: &str| format!("nodes.{name}.{field}");

        let address = raw.address.get_ref().trim().to_string();
        if address.is_empty() {
            return Err(self.error(
                raw.address.span(),
                &key("address"),
                "node_address_empty",
                &[],
                "fix_node_address",
            ));
        }
        let port = match &raw.port {
            Some(value) => u16::try_from(*value.get_ref())
                .ok()
                .filter(|port| *port != 0)
                .ok_or_else(|| {
                    self.error(
                        value.span(),
                        &key("port"),
                        "bad_port",
                        &[("value", value.get_ref())],
                        "fix_port",
                    )
                })?,
            None => 22,
        };
        let user = self.non_empty(raw.user.as_ref(), "root", &key("user"), "fix_user")?;
        let agent = self.non_empty(raw.agent.as_ref(), DEFAULT_AGENT, &key("agent"), "fix_agent")?;
        let key_path = self.absolute(&raw.key, &key("key"))?;
        let known_hosts = match &raw.known_hosts {
            Some(value) => self.absolute(value, &key("known_hosts"))?,
            None => PathBuf::from(DEFAULT_KNOWN_HOSTS),
        };
        let connect_timeout = match &raw.connect_timeout {
            Some(value) => self.duration(value, &key("connect_timeout"))?,
            None => Duration::from_secs(10),
        };
        let timeout = match &raw.timeout {
            Some(value) => self.duration(value, &key("timeout"))?,
            None => Duration::from_secs(60),
        };
        Ok(Node {
            name,
            address,
            port,
            user,
            key: key_path,
            known_hosts,
            connect_timeout,
            timeout,
            agent,
        })
    }

    /// Returns the trimmed value, or `default` when the key is absent; an
    /// empty value is an error with the fix text `fix`.
    fn non_empty(
        &self,
        value: Option<&Spanned<String>>,
        default: &str,
        key: &str,
        fix: &str,
    ) -> Result<String, ConfigError> {
        let Some(value) = value else {
            return Ok(default.to_string());
        };
        let trimmed = value.get_ref().trim();
        if trimmed.is_empty() {
            return Err(self.error(value.span(), key, "value_empty", &[], fix));
        }
        Ok(trimmed.to_string())
    }

    /// Rejects sets whose paths overlap. Paths on different hosts never
    /// overlap: a remote target is compared only with paths on the same peer,
    /// so `source = "/var/www"` with `target = "/var/www"` on a peer is valid.
    fn check_overlaps(&self, sets: &[CheckedSet], site: &CheckedSite) -> Result<(), ConfigError> {
        for (i, a) in sets.iter().enumerate() {
            let s = &a.set;
            let key = |field: &str| format!("sync.{}.{field}", s.name);
            let local = s.peer.is_none();
            if local && nested(&s.source, &s.target) {
                return Err(self.error(
                    a.target_span.clone(),
                    &key("target"),
                    "overlap_source_target",
                    &[("target", &s.target.display()), ("source", &s.source.display())],
                    "fix_overlap_source_target",
                ));
            }
            if (local && nested(&s.source, &s.versions_dir)) || nested(&s.target, &s.versions_dir) {
                return Err(self.error(
                    a.target_span.clone(),
                    &key("versions_dir"),
                    "overlap_versions",
                    &[("path", &s.versions_dir.display())],
                    "fix_overlap_versions",
                ));
            }
            for (path, what) in [
                (&site.site.data_dir, "site.data_dir"),
                (&site.site.report_dir, "site.report_dir"),
            ] {
                if local && (path.starts_with(&s.target) || path.starts_with(&s.versions_dir)) {
                    let span = if what == "site.data_dir" {
                        site.data_dir_span.clone()
                    } else {
                        site.report_dir_span.clone()
                    };
                    return Err(self.error(
                        span,
                        what,
                        "inside_replica",
                        &[
                            ("path", &path.display()),
                            ("set", &s.name),
                            ("target", &s.target.display()),
                        ],
                        "fix_inside_replica",
                    ));
                }
            }
            for b in &sets[..i] {
                let t = &b.set;
                if t.name == s.name {
                    return Err(self.error(
                        a.span.clone(),
                        &key("name"),
                        "duplicate_set",
                        &[("set", &s.name)],
                        "fix_duplicate_set",
                    ));
                }
                if s.peer == t.peer && nested(&s.target, &t.target) {
                    return Err(self.error(
                        a.target_span.clone(),
                        &key("target"),
                        "overlap_targets",
                        &[
                            ("target", &s.target.display()),
                            ("other", &t.target.display()),
                            ("set", &t.name),
                        ],
                        "fix_overlap_targets",
                    ));
                }
                let into_other = t.peer.is_none() && nested(&s.source, &t.target);
                let into_this = local && nested(&s.target, &t.source);
                if into_other || into_this {
                    return Err(self.error(
                        a.source_span.clone(),
                        &key("source"),
                        "overlap_sets",
                        &[("set", &s.name), ("other", &t.name)],
                        "fix_overlap_sets",
                    ));
                }
            }
        }
        Ok(())
    }
}

struct CheckedSite {
    site: Site,
    data_dir_span: std::ops::Range<usize>,
    report_dir_span: std::ops::Range<usize>,
}

struct CheckedSet {
    set: SyncSet,
    span: std::ops::Range<usize>,
    source_span: std::ops::Range<usize>,
    target_span: std::ops::Range<usize>,
}

/// Returns the default versions folder: `.drkit-versions/<set>` beside the target,
/// so it stays on the target's filesystem and hard links work.
pub fn default_versions_dir(target: &Path, set: &str) -> PathBuf {
    let parent = target.parent().unwrap_or(Path::new("/"));
    parent.join(".drkit-versions").join(set)
}

/// True for a set or node name: 1-64 ASCII letters, digits, '-' or '_'.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.len() <= 64 && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// Parses a bandwidth limit in bytes per second: "500", "512K", "20M" or
/// "1G", where the suffixes are powers of 1024. Zero is rejected.
pub fn parse_bwlimit(text: &str) -> Option<u64> {
    let text = text.trim();
    let (number, unit) = match text.char_indices().last()? {
        (i, c) if c.is_ascii_alphabetic() => (&text[..i], c.to_ascii_uppercase()),
        _ => (text, 'B'),
    };
    if number.is_empty() || !number.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let factor: u64 = match unit {
        'B' => 1,
        'K' => 1 << 10,
        'M' => 1 << 20,
        'G' => 1 << 30,
        _ => return None,
    };
    let value = number.parse::<u64>().ok()?.checked_mul(factor)?;
    (value > 0).then_some(value)
}

/// True when one path equals the other or lies inside it.
fn nested(a: &Path, b: &Path) -> bool {
    a.starts_with(b) || b.starts_with(a)
}

/// Removes `.` components and trailing slashes without touching the filesystem.
fn normalize(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Converts a byte offset into a 1-based line and column.
pub(crate) fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses durations such as "60s", "15m", "1h30m", "250ms" or "2d".
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
        if digits == 0 {
            return None;
        }
        let number: u64 = rest[..digits].parse().ok()?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            "d" => Duration::from_secs(number.checked_mul(86_400)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
    }
    Some(total)
}

/// Formats a duration the way the config writes it ("1h30m", "45s", "250ms").
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    let mut secs = d.as_secs();
    let mut out = String::new();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    if secs > 0 || out.is_empty() {
        out.push_str(&format!("{secs}s"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("60s"), Some(Duration::from_secs(60)));
        assert_eq!(parse_duration("1h30m"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("15 minutes"), None);
        assert_eq!(parse_duration("m"), None);
        assert_eq!(parse_duration("10"), None);
    }

    #[test]
    fn durations_format() {
        assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
        assert_eq!(format_duration(Duration::from_secs(60)), "1m");
    }

    #[test]
    fn max_delete_parses_percent_and_count() {
        assert_eq!(MaxDelete::parse("10%"), Some(MaxDelete::Percent(10.0)));
        assert_eq!(MaxDelete::parse("500"), Some(MaxDelete::Count(500)));
        assert_eq!(MaxDelete::parse("150%"), None);
        assert_eq!(MaxDelete::Percent(10.0).allowed(55), 5);
    }

    #[test]
    fn texts_are_complete() {
        i18n::check_table(TEXTS).unwrap();
    }

    #[test]
    fn unknown_key_names_line_and_fix() {
        let text = "[site]\nname = \"w\"\ndata_dir = \"/d\"\nreport_dir = \"/r\"\ncolour = \"red\"\n";
        let e = parse(Path::new("/etc/drkit/drkit.toml"), text, Some(Lang::En))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/etc/drkit/drkit.toml:5:1: site.colour: unknown key `colour`"),
            "{e}"
        );
        assert!(e.contains("fix: remove the key"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_key() {
        let text = "[site]\nname = \"w\"\ndata_dir = \"/d\"\nreport_dir = \"/r\"\n[targets]\nrpo = 60\n";
        let e = parse(Path::new("c.toml"), text, Some(Lang::En))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("c.toml:6:7: targets.rpo: wrong type: found integer `60`, expected text in quotes"),
            "{e}"
        );
    }

    #[test]
    fn spanish_errors_when_the_file_asks() {
        let text = "[site]\nname = \"w\"\ndata_dir = \"/d\"\nreport_dir = \"/r\"\nlanguage = \"es\"\n[targets]\nrpo = \"60 segundos\"\n";
        let e = parse(Path::new("c.toml"), text, None).unwrap_err().to_string();
        assert_eq!(e, "c.toml:7:7: targets.rpo: duración no válida \"60 segundos\"\n  solución: escriba un número mayor que cero con su unidad (ms, s, m, h, d), como \"15m\", \"60s\" o \"1h30m\"");
    }

    const SITE: &str = "[site]\nname = \"w\"\ndata_dir = \"/d\"\nreport_dir = \"/r\"\n";

    fn parse_en(text: &str) -> Result<Config, String> {
        parse(Path::new("c.toml"), text, Some(Lang::En)).map_err(|e| e.to_string())
    }

    #[test]
    fn node_defaults_apply() {
        let text = format!("{SITE}[nodes.dr2]\naddress = \"dr2.example.com\"\nkey = \"/k\"\n");
        let config = parse_en(&text).unwrap();
        let node = &config.nodes["dr2"];
        assert_eq!(node.name, "dr2");
        assert_eq!(node.port, 22);
        assert_eq!(node.user, "root");
        assert_eq!(node.known_hosts, PathBuf::from(DEFAULT_KNOWN_HOSTS));
        assert_eq!(node.connect_timeout, Duration::from_secs(10));
        assert_eq!(node.timeout, Duration::from_secs(60));
        assert_eq!(node.agent, "drkit agent --root /");
    }

    #[test]
    fn remote_set_may_reuse_its_source_path() {
        let text = format!(
            "{SITE}[nodes.dr2]\naddress = \"10.0.0.2\"\nport = 2222\nkey = \"/k\"\n\
             [[sync]]\nname = \"www\"\nsource = \"/var/www\"\ntarget = \"/var/www\"\npeer = \"dr2\"\n\
             compress = true\nbwlimit = \"20M\"\n\
             [[sync]]\nname = \"local\"\nsource = \"/srv\"\ntarget = \"/backup/srv\"\n"
        );
        let config = parse_en(&text).unwrap();
        let remote = &config.sets[0];
        assert_eq!(remote.peer.as_deref(), Some("dr2"));
        assert!(remote.compress);
        assert_eq!(remote.bwlimit, Some(20 * 1024 * 1024));
        assert_eq!(config.node_of(remote).map(|n| n.port), Some(2222));
        assert_eq!(config.node_of(&config.sets[1]), None);
        assert!(!config.sets[1].compress);
    }

    #[test]
    fn remote_target_must_be_absolute() {
        let text = format!(
            "{SITE}[nodes.dr2]\naddress = \"h\"\nkey = \"/k\"\n\
             [[sync]]\nname = \"www\"\nsource = \"/var/www\"\ntarget = \"www\"\npeer = \"dr2\"\n"
        );
        let e = parse_en(&text).unwrap_err();
        assert!(e.contains("sync.www.target: \"www\" is not an absolute path"), "{e}");
    }

    #[test]
    fn unknown_peer_lists_the_nodes() {
        let text = format!(
            "{SITE}[nodes.dr2]\naddress = \"h\"\nkey = \"/k\"\n[nodes.dr3]\naddress = \"h\"\nkey = \"/k\"\n\
             [[sync]]\nname = \"www\"\nsource = \"/a\"\ntarget = \"/a\"\npeer = \"secondary\"\n"
        );
        let e = parse_en(&text).unwrap_err();
        assert!(
            e.starts_with("c.toml:15:8: sync.www.peer: no node is named \"secondary\"; the config defines: dr2, dr3"),
            "{e}"
        );
    }

    #[test]
    fn node_errors_name_the_key() {
        let cases = [
            (
                "address = \"h\"\nkey = \"/k\"\nport = 70000\n",
                "nodes.n.port: invalid port 70000",
            ),
            (
                "address = \" \"\nkey = \"/k\"\n",
                "nodes.n.address: the address is empty",
            ),
            (
                "address = \"h\"\nkey = \"id\"\n",
                "nodes.n.key: \"id\" is not an absolute path",
            ),
            (
                "address = \"h\"\nkey = \"/k\"\nuser = \"\"\n",
                "nodes.n.user: the value is empty",
            ),
            (
                "address = \"h\"\nkey = \"/k\"\ntimeout = \"1 min\"\n",
                "nodes.n.timeout: invalid duration",
            ),
            ("address = \"h\"\n", "missing"),
        ];
        for (body, expected) in cases {
            let e = parse_en(&format!("{SITE}[nodes.n]\n{body}")).unwrap_err();
            assert!(e.contains(expected), "{body}: {e}");
        }
    }

    #[test]
    fn bad_bwlimit_is_rejected() {
        let text = format!("{SITE}[[sync]]\nname = \"www\"\nsource = \"/a\"\ntarget = \"/b\"\nbwlimit = \"20 MB\"\n");
        let e = parse_en(&text).unwrap_err();
        assert!(e.contains("sync.www.bwlimit: invalid bandwidth limit \"20 MB\""), "{e}");
    }

    #[test]
    fn bwlimit_units_are_powers_of_1024() {
        assert_eq!(parse_bwlimit("500"), Some(500));
        assert_eq!(parse_bwlimit("512K"), Some(512 * 1024));
        assert_eq!(parse_bwlimit("20m"), Some(20 << 20));
        assert_eq!(parse_bwlimit("1G"), Some(1 << 30));
        assert_eq!(parse_bwlimit("0"), None);
        assert_eq!(parse_bwlimit("0M"), None);
        assert_eq!(parse_bwlimit("M"), None);
        assert_eq!(parse_bwlimit("1.5M"), None);
        assert_eq!(parse_bwlimit("2T"), None);
        assert_eq!(parse_bwlimit("-1"), None);
    }

    #[test]
    fn local_target_equal_to_source_is_rejected() {
        let text = format!("{SITE}[[sync]]\nname = \"www\"\nsource = \"/a\"\ntarget = \"/a\"\n");
        let e = parse_en(&text).unwrap_err();
        assert!(e.contains("overlap"), "{e}");
    }

    #[test]
    fn keep_batch_versions_default_and_value() {
        let set = "[[sync]]\nname = \"www\"\nsource = \"/a\"\ntarget = \"/b\"\n";
        let config = parse_en(&format!("{SITE}{set}")).unwrap();
        assert_eq!(config.sets[0].keep_batch_versions, 1440);
        let config = parse_en(&format!("{SITE}{set}keep_batch_versions = 0\n")).unwrap();
        assert_eq!(config.sets[0].keep_batch_versions, 0);
        let config = parse_en(&format!("{SITE}{set}keep_batch_versions = 100000\n")).unwrap();
        assert_eq!(config.sets[0].keep_batch_versions, 100_000);
    }

    #[test]
    fn bad_keep_batch_versions_names_line() {
        let set = "[[sync]]\nname = \"www\"\nsource = \"/a\"\ntarget = \"/b\"\n";
        for bad in ["-1", "100001"] {
            let e = parse_en(&format!("{SITE}{set}keep_batch_versions = {bad}\n")).unwrap_err();
            assert!(
                e.starts_with(&format!(
                    "c.toml:9:23: sync.www.keep_batch_versions: invalid count {bad}"
                )),
                "{e}"
            );
            assert!(
                e.contains("fix: use a whole number from 0 (no batch versions) to 100000"),
                "{e}"
            );
        }
        let spanish = format!("{SITE}language = \"es\"\n{set}keep_batch_versions = -5\n");
        let e = parse(Path::new("c.toml"), &spanish, None).unwrap_err().to_string();
        assert_eq!(
            e,
            "c.toml:10:23: sync.www.keep_batch_versions: cantidad no válida -5\n  solución: use un número entero de 0 (sin versiones por lotes) a 100000"
        );
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("a\nbc\n", 3), (2, 2));
    }
}
