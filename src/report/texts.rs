//! Texts of the reports and of `drkit status` in English and Spanish.
//!
//! Labels are short and placed before an HTML element or a value; sentences
//! with counts use `{name}` placeholders filled by `format`.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

pub const TEXTS: &[Row] = &[
    // Page frame.
    ("dashboard_title", "DR status of {site}", "Estado de DR de {site}"),
    (
        "daily_title",
        "Daily report of {site} for {date}",
        "Informe diario de {site} del {date}",
    ),
    ("generated", "Generated", "Generado"),
    ("targets", "Targets", "Objetivos"),
    ("back_to_dashboard", "Back to the dashboard", "Volver al panel"),
    (
        "footer",
        "Written by drkit {version}. Times are local; hover a time to see it in UTC.",
        "Escrito por drkit {version}. Las horas son locales; pase el puntero sobre una hora para verla en UTC.",
    ),
    // Verdict.
    (
        "verdict_ok",
        "All sets are within their targets.",
        "Todos los conjuntos cumplen sus objetivos.",
    ),
    ("verdict_badge_bad", "action needed", "requiere atención"),
    ("verdict_bad", "Not within targets:", "Fuera de objetivos:"),
    (
        "problem_never_synced",
        "{set}: no successful sync yet",
        "{set}: aún no tiene ninguna sincronización correcta",
    ),
    (
        "problem_over_rpo",
        "{set}: lag {lag} exceeds the RPO target {rpo}",
        "{set}: el retraso {lag} supera el objetivo RPO {rpo}",
    ),
    (
        "problem_sync_failed",
        "{set}: the last sync failed",
        "{set}: la última sincronización falló",
    ),
    (
        "problem_verify_failed",
        "{set}: the last verify found differences or errors",
        "{set}: la última verificación encontró diferencias o errores",
    ),
    (
        "problem_audit_broken",
        "audit log: the chain is broken at entry {id}",
        "registro de auditoría: la cadena está rota en la entrada {id}",
    ),
    (
        "problem_audit_error",
        "audit log: the chain could not be checked",
        "registro de auditoría: no se pudo comprobar la cadena",
    ),
    // Sets.
    ("sets", "Replicated sets", "Conjuntos replicados"),
    (
        "no_sets",
        "The config defines no sync set.",
        "La configuración no define ningún conjunto de sincronización.",
    ),
    ("last_sync", "Last sync", "Última sincronización"),
    ("never_synced", "never synced", "nunca sincronizado"),
    (
        "sync_counts",
        "files changed: {changed}, deleted: {deleted}, copied: {bytes}",
        "archivos cambiados: {changed}, borrados: {deleted}, copiados: {bytes}",
    ),
    (
        "sync_stopped",
        "stopped before changing anything",
        "se detuvo antes de cambiar nada",
    ),
    ("lag", "Lag", "Retraso"),
    (
        "lag_value",
        "{lag} behind the source (RPO target {rpo})",
        "{lag} por detrás del origen (objetivo RPO {rpo})",
    ),
    (
        "lag_unknown",
        "unknown: no successful sync yet",
        "desconocido: aún no hay ninguna sincronización correcta",
    ),
    ("lag_none", "no successful sync", "sin sincronización correcta"),
    (
        "lag_from",
        "measured from the start of the last successful sync",
        "medido desde el inicio de la última sincronización correcta",
    ),
    ("last_change", "Last change carried", "Último cambio replicado"),
    (
        "last_change_value",
        "made {made}, on the replica {reached}: {delay} later (RPO target {rpo})",
        "hecho {made}, en la réplica {reached}: {delay} después (objetivo RPO {rpo})",
    ),
    (
        "no_change",
        "no sync has carried a change yet",
        "ninguna sincronización ha replicado aún un cambio",
    ),
    ("col_change_delay", "Last change delay", "Retraso del último cambio"),
    ("within_target", "OK", "OK"),
    ("over_target", "over target", "supera el objetivo"),
    ("versions", "Versions kept", "Versiones guardadas"),
    ("last_verify", "Last verify", "Última verificación"),
    ("never_verified", "never verified", "nunca verificado"),
    (
        "verify_counts",
        "files checked: {checked}, different: {mismatched}, missing: {missing}, extra: {extra}",
        "archivos revisados: {checked}, distintos: {mismatched}, ausentes: {missing}, sobrantes: {extra}",
    ),
    (
        "verify_short",
        "different: {mismatched}, missing: {missing}, extra: {extra}",
        "distintos: {mismatched}, ausentes: {missing}, sobrantes: {extra}",
    ),
    (
        "paths_mismatched",
        "Different on the replica",
        "Distintos en la réplica",
    ),
    ("paths_missing", "Missing on the replica", "Ausentes en la réplica"),
    ("paths_extra", "Only on the replica", "Solo en la réplica"),
    ("paths_errors", "Entries that failed", "Entradas que fallaron"),
    ("more_paths", "and {count} more", "y {count} más"),
    // Outcomes.
    ("status_ok", "OK", "correcta"),
    ("status_failed", "failed", "fallida"),
    ("status_running", "running", "en curso"),
    ("status_timed_out", "timed out", "tiempo agotado"),
    ("status_skipped", "skipped", "omitida"),
    // Kinds of runs and results.
    ("kind_sync", "sync", "sincronización"),
    ("kind_verify", "verify", "verificación"),
    ("kind_job", "job", "trabajo"),
    ("kind_report", "report", "informe"),
    // Recent runs.
    ("recent_runs", "Recent runs", "Ejecuciones recientes"),
    ("no_runs", "No run recorded yet.", "Aún no hay ejecuciones registradas."),
    ("col_kind", "Kind", "Tipo"),
    ("col_name", "Name", "Nombre"),
    ("col_start", "Start", "Inicio"),
    ("col_duration", "Duration", "Duración"),
    (
        "batches",
        "{count} watcher batches in this minute",
        "{count} lotes del vigilante en este minuto",
    ),
    (
        "batches_one",
        "1 watcher batch in this minute",
        "1 lote del vigilante en este minuto",
    ),
    ("col_status", "Status", "Estado"),
    // Audit.
    ("audit", "Audit log", "Registro de auditoría"),
    (
        "audit_intact",
        "Chain intact (entries checked: {rows}).",
        "Cadena íntegra (entradas comprobadas: {rows}).",
    ),
    (
        "audit_broken",
        "Chain broken at entry {id}: an entry was edited or deleted.",
        "Cadena rota en la entrada {id}: se editó o se borró una entrada.",
    ),
    (
        "audit_error",
        "The chain could not be checked: {error}",
        "No se pudo comprobar la cadena: {error}",
    ),
    // Daily reports.
    ("daily_reports", "Daily reports", "Informes diarios"),
    (
        "no_daily",
        "No daily report yet; `drkit report daily` writes one.",
        "Aún no hay informes diarios; `drkit report daily` escribe uno.",
    ),
    ("lag_now", "Lag at report time", "Retraso en el momento del informe"),
    ("day_syncs", "Syncs of the day", "Sincronizaciones del día"),
    ("day_verifies", "Verifies of the day", "Verificaciones del día"),
    ("day_failures", "Failures", "Fallos"),
    (
        "no_syncs",
        "No sync ran this day.",
        "Ninguna sincronización se ejecutó este día.",
    ),
    (
        "no_verifies",
        "No verify ran this day.",
        "Ninguna verificación se ejecutó este día.",
    ),
    ("no_failures", "Nothing failed this day.", "Nada falló este día."),
    (
        "failed_run",
        "run {id} ({kind}, \"{name}\"): {status}",
        "ejecución {id} ({kind}, \"{name}\"): {status}",
    ),
    ("col_set", "Set", "Conjunto"),
    ("col_time", "Time", "Hora"),
    ("col_changed", "Changed", "Cambiados"),
    ("col_deleted", "Deleted", "Borrados"),
    ("col_copied", "Copied", "Copiados"),
    ("col_checked", "Checked", "Revisados"),
    ("col_mismatched", "Different", "Distintos"),
    ("col_missing", "Missing", "Ausentes"),
    ("col_extra", "Extra", "Sobrantes"),
    ("col_lag", "Lag", "Retraso"),
    ("col_rpo", "RPO target", "Objetivo RPO"),
    ("col_last_sync", "Last sync", "Última sincronización"),
    ("col_versions", "Versions", "Versiones"),
    ("col_last_verify", "Last verify", "Última verificación"),
    // Terminal.
    ("index_written", "dashboard: {path}", "panel: {path}"),
    ("daily_written", "daily report: {path}", "informe diario: {path}"),
    (
        "write_failed",
        "cannot write {path}: {error}",
        "no se puede escribir {path}: {error}",
    ),
    (
        "status_failed_to_read",
        "cannot read the state database: {error}",
        "no se puede leer la base de datos de estado: {error}",
    ),
];

/// Returns the text for `key` in `lang`.
pub fn text(lang: Lang, key: &str) -> &'static str {
    i18n::text(TEXTS, lang, key)
}

/// Returns the text for `key` with its placeholders filled.
pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

/// Returns the translated word for a stored status ("ok", "failed", ...);
/// an unknown status is returned as stored.
pub fn status_word(lang: Lang, status: &str) -> &str {
    let key = match status {
        "ok" => "status_ok",
        "failed" => "status_failed",
        "running" => "status_running",
        "timed_out" => "status_timed_out",
        "skipped" => "status_skipped",
        other => return other,
    };
    text(lang, key)
}

/// Returns the translated name of a run or result kind; an unknown kind is
/// returned as stored.
pub fn kind_word(lang: Lang, kind: &str) -> &str {
    let key = match kind {
        "sync" => "kind_sync",
        "verify" => "kind_verify",
        "job" => "kind_job",
        "report" => "kind_report",
        other => return other,
    };
    text(lang, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }

    #[test]
    fn status_words_are_translated() {
        assert_eq!(status_word(Lang::En, "failed"), "failed");
        assert_eq!(status_word(Lang::Es, "failed"), "fallida");
        assert_eq!(status_word(Lang::Es, "timed_out"), "tiempo agotado");
        assert_eq!(status_word(Lang::Es, "paused"), "paused");
    }
}
