//! Messages of `drkit db` in English and Spanish.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

pub const TEXTS: &[Row] = &[
    ("fix_label", "fix", "solución"),
    ("unknown_server", "no [[database]] entry is named \"{name}\"; the config defines: {known}", "ninguna entrada [[database]] se llama \"{name}\"; la configuración define: {known}"),
    ("no_servers", "the config defines no [[database]] entry; add one (see README.md, \"Database dumps\")", "la configuración no define ninguna entrada [[database]]; añada una (vea README.es.md, \"Volcados de bases de datos\")"),
    ("dump_ok", "{server}: database {database} dumped to {file} ({bytes}, {secs})", "{server}: base de datos {database} volcada en {file} ({bytes}, {secs})"),
    ("dump_failed", "database \"{database}\" on server \"{server}\" ({kind}, {connection}): the dump failed: {detail}. {kept}", "base de datos \"{database}\" del servidor \"{server}\" ({kind}, {connection}): el volcado falló: {detail}. {kept}"),
    ("dump_kept", "The previous dump {file} was kept unchanged.", "Se conservó sin cambios el volcado anterior {file}."),
    ("dump_none_kept", "There was no previous dump to keep.", "No había un volcado anterior que conservar."),
    ("dump_list_failed", "server \"{server}\" ({kind}, {connection}): cannot list its databases: {detail}. No dump was changed.", "servidor \"{server}\" ({kind}, {connection}): no se pueden listar sus bases de datos: {detail}. No se cambió ningún volcado."),
    ("dump_server_failed", "{server}: {count} dumps failed; the previous dumps of those databases were kept", "{server}: fallaron {count} volcados; se conservaron los volcados anteriores de esas bases de datos"),
    ("fix_access_denied", "check user and password_file of [[database]] \"{server}\" (the password is the first line of that file) and that the user may read every database", "compruebe user y password_file de [[database]] \"{server}\" (la contraseña es la primera línea de ese archivo) y que el usuario pueda leer todas las bases de datos"),
    ("fix_server_down", "start the database server, or correct socket, host or port of [[database]] \"{server}\"", "arranque el servidor de bases de datos, o corrija socket, host o port de [[database]] \"{server}\""),
    ("fix_disk_full", "free space on the file system of {dir} (see df -h {dir}), then run drkit db dump {server} again", "libere espacio en el sistema de archivos de {dir} (vea df -h {dir}) y vuelva a ejecutar drkit db dump {server}"),
    ("fix_program_missing", "install the client programs (Debian: mariadb-client or postgresql-client) or set bin_dir of [[database]] \"{server}\" to their folder", "instale los programas cliente (Debian: mariadb-client o postgresql-client) o ponga en bin_dir de [[database]] \"{server}\" su carpeta"),
    ("fix_other", "read the program's message above; drkit db {command} {server} -vv logs each step", "lea el mensaje del programa arriba; drkit db {command} {server} -vv registra cada paso"),
    ("restore_done", "{server}: database {database} restored from {file} (dump started {dump_time}, took {secs})", "{server}: base de datos {database} restaurada desde {file} (volcado iniciado {dump_time}, duró {secs})"),
    ("restore_newer", "database \"{database}\" on server \"{server}\" was written at {last_write}, after {since} (the dump's start or drkit's last restore of it); restoring would lose those writes. Nothing was changed. To replace it anyway, run again with --force.", "la base de datos \"{database}\" del servidor \"{server}\" se escribió el {last_write}, después del {since} (inicio del volcado o última restauración de drkit); restaurar perdería esas escrituras. No se cambió nada. Para reemplazarla de todos modos, repita con --force."),
    ("restore_changed", "database \"{database}\" on server \"{server}\" has had {changes} row changes since drkit restored it at {restored_at}; restoring would lose them. Nothing was changed. To replace it anyway, run again with --force.", "la base de datos \"{database}\" del servidor \"{server}\" tuvo {changes} cambios de filas desde que drkit la restauró el {restored_at}; restaurar los perdería. No se cambió nada. Para reemplazarla de todos modos, repita con --force."),
    ("restore_unknown", "database \"{database}\" on server \"{server}\" exists with {tables} tables, and PostgreSQL keeps no time of the last write, so drkit cannot tell whether it holds writes newer than the dump. Nothing was changed. To replace it, run again with --force.", "la base de datos \"{database}\" del servidor \"{server}\" existe con {tables} tablas, y PostgreSQL no guarda la hora de la última escritura, así que drkit no puede saber si tiene escrituras posteriores al volcado. No se cambió nada. Para reemplazarla, repita con --force."),
    ("restore_failed", "database \"{database}\" on server \"{server}\" ({connection}): the restore failed: {detail}", "base de datos \"{database}\" del servidor \"{server}\" ({connection}): la restauración falló: {detail}"),
    ("restore_no_version", "no version \"{version}\" in {dir}; versions there: {available}", "no hay versión \"{version}\" en {dir}; versiones allí: {available}"),
    ("restore_not_at_version", "{path} did not exist at version \"{version}\"; choose a later version", "{path} no existía en la versión \"{version}\"; elija una versión posterior"),
    ("restore_no_dumps", "no dump in {dir}; run drkit db dump {server} on the primary and drkit sync {set}, then try again", "no hay volcados en {dir}; ejecute drkit db dump {server} en el primario y drkit sync {set}, y vuelva a intentarlo"),
    ("restore_not_dumped", "no dump of database \"{database}\" in {dir}; dumps there: {available}", "no hay volcado de la base de datos \"{database}\" en {dir}; volcados allí: {available}"),
    ("restore_cannot_start", "server \"{server}\" ({connection}): cannot start the restore: {detail}", "servidor \"{server}\" ({connection}): no se puede iniciar la restauración: {detail}"),
    ("lag_replica", "{server}: replica, {secs} behind its primary", "{server}: réplica, {secs} por detrás de su primario"),
    ("lag_over_rpo", "{server}: replica, {secs} behind its primary, more than the RPO target of {rpo}", "{server}: réplica, {secs} por detrás de su primario, más que el objetivo RPO de {rpo}"),
    ("lag_no_replay", "{server}: standby that has not replayed any transaction yet, so its lag is unknown", "{server}: standby que aún no ha reproducido ninguna transacción, así que su retraso es desconocido"),
    ("lag_stopped", "{server}: replica whose replication is stopped (IO thread: {io}, SQL thread: {sql}; last error: {error}); check the error, then run START SLAVE on it", "{server}: réplica con la replicación detenida (hilo IO: {io}, hilo SQL: {sql}; último error: {error}); revise el error y ejecute START SLAVE en ella"),
    ("lag_not_replica", "{server}: not a replica (no native replication is configured on this server), so it has no lag to measure", "{server}: no es una réplica (este servidor no tiene replicación nativa configurada), así que no hay retraso que medir"),
    ("lag_failed", "server \"{server}\" ({connection}): cannot read the replication state: {detail}", "servidor \"{server}\" ({connection}): no se puede leer el estado de replicación: {detail}"),
];

/// Returns the text for `key` with its placeholders filled.
pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

/// Returns the text for `key`.
pub fn text(lang: Lang, key: &str) -> &'static str {
    i18n::text(TEXTS, lang, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }
}
