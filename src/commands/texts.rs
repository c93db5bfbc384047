//! Messages of the command layer in English and Spanish, and the helpers
//! that print them: results on stdout, errors and warnings on stderr.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

pub const TEXTS: &[Row] = &[
    ("error", "error", "error"),
    ("warning", "warning", "aviso"),
    ("init_done", "state database ready: {path}", "base de datos de estado lista: {path}"),
    ("data_dir_failed", "cannot create the data directory {path}: {error}", "no se puede crear el directorio de datos {path}: {error}"),
    ("unknown_set", "no sync set is named \"{name}\"; the config defines: {known}", "ningún conjunto de sincronización se llama \"{name}\"; la configuración define: {known}"),
    ("no_sets", "the config defines no [[sync]] set; add one (see README.md, \"Configuration\")", "la configuración no define ningún conjunto [[sync]]; añada uno (vea README.es.md, \"Configuración\")"),
    ("invalid_max_delete", "invalid --max-delete \"{value}\": write a percentage such as \"25%\" or a file count such as \"500\"", "--max-delete \"{value}\" no es válido: escriba un porcentaje como \"25%\" o un número de archivos como \"500\""),
    ("sync_done", "{set}: files checked: {scanned}, changed: {changed}, deleted: {deleted}, copied: {bytes}, time: {secs}", "{set}: archivos revisados: {scanned}, cambiados: {changed}, borrados: {deleted}, copiado: {bytes}, tiempo: {secs}"),
    ("sync_version", "  version {name} kept before the change (versions kept, full and batch: {count}, in {dir})", "  versión {name} guardada antes del cambio (versiones guardadas, completas y por lotes: {count}, en {dir})"),
    ("sync_unchanged", "  the replica was already up to date", "  la réplica ya estaba al día"),
    ("sync_unstable", "  {path}: kept changing while read; left as it was on the replica, tried again next sync", "  {path}: cambiaba mientras se leía; se deja como estaba en la réplica y se reintenta en la próxima sincronización"),
    ("sync_special", "  {path}: skipped (special files are not replicated)", "  {path}: omitido (los archivos especiales no se replican)"),
    ("item_failed", "  {path}: {error}", "  {path}: {error}"),
    ("sync_failed_items", "{set}: {count} entries failed; the rest was synced", "{set}: fallaron {count} entradas; el resto se sincronizó"),
    ("sync_failed_item", "{set}: 1 entry failed; the rest was synced", "{set}: falló 1 entrada; el resto se sincronizó"),
    ("source_missing", "set \"{set}\": the source {path} does not exist or is not a directory; check the path and that its disk is mounted. Nothing was changed.", "conjunto \"{set}\": el origen {path} no existe o no es un directorio; compruebe la ruta y que su disco esté montado. No se cambió nada."),
    ("source_empty", "set \"{set}\": the source {path} is empty. A missing mount or a wiped disk looks like this, so nothing was changed and every version is kept. Mount or restore the source, then sync again.", "conjunto \"{set}\": el origen {path} está vacío. Así se ve un montaje ausente o un disco borrado, por eso no se cambió nada y se conservan todas las versiones. Monte o restaure el origen y vuelva a sincronizar."),
    ("deletion_guard_recent", "set \"{set}\": drkit watch stopped its batches: with the {count} files this sync would delete, its syncs would have deleted {total} of the replica's {before} files within an hour, more than max_delete = {limit} allows ({allowed}). Nothing was changed; it now tries whole syncs, which go through once the source is back or the deletions are made by hand. If the deletions are intended, run \"drkit sync {set} --max-delete {count}\"; if not, put the files back on the source (they are in the replica and in its versions).", "conjunto \"{set}\": drkit watch detuvo sus lotes: con los {count} archivos que borraría esta sincronización, sus sincronizaciones habrían borrado {total} de los {before} archivos de la réplica en una hora, más de lo que permite max_delete = {limit} ({allowed}). No se cambió nada; ahora intenta sincronizaciones completas, que pasan cuando el origen vuelve a estar completo o los borrados se hacen a mano. Si los borrados son intencionados, ejecute \"drkit sync {set} --max-delete {count}\"; si no, devuelva los archivos al origen (están en la réplica y en sus versiones)."),
    ("deletion_guard", "set \"{set}\": the sync would delete {count} of the replica's {total} files, more than max_delete = {limit} allows ({allowed}). Nothing was changed. If these deletions are intended, run again with --max-delete {count}.", "conjunto \"{set}\": la sincronización borraría {count} de los {total} archivos de la réplica, más de lo que permite max_delete = {limit} ({allowed}). No se cambió nada. Si esos borrados son intencionados, repita con --max-delete {count}."),
    ("verify_ok", "{set}: the replica matches the source (files compared: {files}, hashed: {bytes}, time: {secs})", "{set}: la réplica coincide con el origen (archivos comparados: {files}, verificado: {bytes}, tiempo: {secs})"),
    ("verify_bad", "{set}: the replica differs from the source (different: {mismatched}, missing: {missing}, extra: {extra}; files compared: {files}, hashed: {bytes}, time: {secs})", "{set}: la réplica difiere del origen (distintos: {mismatched}, ausentes: {missing}, sobrantes: {extra}; archivos comparados: {files}, verificado: {bytes}, tiempo: {secs})"),
    ("verify_mismatch", "  different: {path}", "  distinto: {path}"),
    ("verify_missing", "  missing on the replica: {path}", "  ausente en la réplica: {path}"),
    ("verify_extra", "  only on the replica: {path}", "  solo en la réplica: {path}"),
    ("verify_repair_hint", "  the next `drkit sync {set}` makes the replica equal to the source again: it copies what differs or is missing and deletes what is extra", "  el próximo `drkit sync {set}` vuelve a igualar la réplica con el origen: copia lo distinto o ausente y borra lo sobrante"),
    ("config_ok", "{path}: valid. Site \"{site}\", language {lang}, RTO {rto}, RPO {rpo}, sync sets: {count}", "{path}: válida. Sitio \"{site}\", idioma {lang}, RTO {rto}, RPO {rpo}, conjuntos de sincronización: {count}"),
    ("config_set", "  {name}: {source} -> {target} (max_delete {max_delete}, {keep} versions in {versions})", "  {name}: {source} -> {target} (max_delete {max_delete}, {keep} versiones en {versions})"),
    ("config_database", "  database {name}: {kind} at {connection}, dumps in {dump_dir} (set \"{set}\")", "  base de datos {name}: {kind} en {connection}, volcados en {dump_dir} (conjunto \"{set}\")"),
    ("config_jobs", "job files in {dir}: valid (jobs: {count})", "archivos de trabajos en {dir}: válidos (trabajos: {count})"),
    ("config_no_jobs", "no job folder at {dir}; `drkit run` needs one (see README.md, \"Configuration\")", "no hay carpeta de trabajos en {dir}; `drkit run` la necesita (vea README.es.md, \"Configuración\")"),
    ("peer_failed", "set \"{set}\": peer {peer}: {message}", "conjunto \"{set}\": par {peer}: {message}"),
    ("report_written", "report written: {path}", "informe escrito: {path}"),
];

/// Returns the text for `key` with its placeholders filled.
pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

/// Prints a result line on stdout.
pub fn say(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) {
    println!("{}", format(lang, key, args));
}

/// Prints an already formatted result line on stdout.
pub fn say_text(line: &str) {
    println!("{line}");
}

/// Prints an error on stderr, prefixed with the translated word "error".
pub fn error(lang: Lang, message: &str) {
    eprintln!("{}: {message}", i18n::text(TEXTS, lang, "error"));
}

/// Prints a warning on stderr.
pub fn warn(lang: Lang, message: &str) {
    eprintln!("{}: {message}", i18n::text(TEXTS, lang, "warning"));
}

/// Formats a byte count with binary-free decimal units (kB, MB, GB), as df -H does.
pub fn bytes(lang: Lang, n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut value = n as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < units.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    let text = if unit == 0 {
        format!("{n} B")
    } else {
        format!("{value:.1} {}", units[unit])
    };
    localize_decimal(lang, text)
}

/// Formats milliseconds as seconds with one decimal ("0.4 s").
pub fn seconds(lang: Lang, ms: u64) -> String {
    localize_decimal(lang, format!("{:.1} s", ms as f64 / 1000.0))
}

/// Writes the decimal point of `text` as the language does ("0,5" in Spanish).
pub fn localize_decimal(lang: Lang, text: String) -> String {
    match lang {
        Lang::En => text,
        Lang::Es => text.replace('.', ","),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }

    #[test]
    fn byte_counts_read_well() {
        assert_eq!(bytes(Lang::En, 999), "999 B");
        assert_eq!(bytes(Lang::En, 1_250_000), "1.2 MB");
        assert_eq!(bytes(Lang::Es, 1_250_000), "1,2 MB");
    }
}
