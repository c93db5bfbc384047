//! Messages of `drkit watch` in English and Spanish.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

pub const TEXTS: &[Row] = &[
    ("bad_debounce", "invalid --debounce \"{value}\": write seconds, zero or more, such as 0.005 or 0.2", "--debounce \"{value}\" no es válido: escriba segundos, cero o más, como 0.005 o 0.2"),
    ("bad_interval", "invalid --interval \"{value}\": write seconds above zero, such as 60", "--interval \"{value}\" no es válido: escriba segundos mayores que cero, como 60"),
    ("missing_tool", "cannot run inotifywait ({error}); install the Debian package inotify-tools", "no se puede ejecutar inotifywait ({error}); instale el paquete de Debian inotify-tools"),
    ("source_missing", "the source {path} is not a directory; check the path and that its disk is mounted", "el origen {path} no es un directorio; compruebe la ruta y que su disco esté montado"),
    ("signals_failed", "cannot set up the stop signals: {error}", "no se pueden preparar las señales de parada: {error}"),
    ("started", "watching {path} (debounce {seconds} s)", "vigilando {path} (espera de agrupación {seconds} s)"),
    ("sync_failed", "the sync failed (exit code {code}); its paths are synced again with the next change, or within {seconds} s", "la sincronización falló (código de salida {code}); sus rutas se sincronizan de nuevo con el próximo cambio, o en {seconds} s como máximo"),
    ("sync_recovered", "syncs succeed again", "las sincronizaciones vuelven a funcionar"),
    ("source_replaced", "the source {path} was moved, deleted or replaced by another folder, so the events of its watches no longer name its files: setting up the watches again and running one full sync, which the deletion guard checks", "el origen {path} se movió, se borró o se sustituyó por otra carpeta, así que los eventos de sus vigilancias ya no nombran sus archivos: se vuelven a crear las vigilancias y se ejecuta una sincronización completa, que revisa la protección contra borrados"),
    ("overflow", "the inotify event queue overflowed, so some changes were not reported: running one full sync and setting up the watches again. Raise the sysctl fs.inotify.max_queued_events (now {value}) if this repeats", "la cola de eventos de inotify se desbordó y algunos cambios no se notificaron: se ejecuta una sincronización completa y se vuelven a crear las vigilancias. Aumente el sysctl fs.inotify.max_queued_events (ahora {value}) si se repite"),
    ("garbled", "cannot read an event in inotifywait's output: running one full sync", "no se puede leer un evento en la salida de inotifywait: se ejecuta una sincronización completa"),
    ("watch_limit", "inotify ran out of watches ({message}): running one full sync; the new folders stay unwatched until drkit watch restarts. Raise the sysctl fs.inotify.max_user_watches (now {value}), then restart drkit watch", "inotify se quedó sin vigilancias ({message}): se ejecuta una sincronización completa; las carpetas nuevas quedan sin vigilar hasta que drkit watch se reinicie. Aumente el sysctl fs.inotify.max_user_watches (ahora {value}) y reinicie drkit watch"),
    ("fallback", "cannot watch {path} ({message}): syncing the whole set every {seconds} s instead. If inotify ran out of watches, raise the sysctl fs.inotify.max_user_watches (now {value}), then restart drkit watch", "no se puede vigilar {path} ({message}): se sincroniza el conjunto completo cada {seconds} s. Si inotify se quedó sin vigilancias, aumente el sysctl fs.inotify.max_user_watches (ahora {value}) y reinicie drkit watch"),
    ("exited", "inotifywait exited with code {code}", "inotifywait terminó con el código {code}"),
    ("inotifywait", "inotifywait: {message}", "inotifywait: {message}"),
    ("stopping", "{signal} received: stopping once the running sync, if any, has finished", "{signal} recibida: se detiene cuando termine la sincronización en curso, si hay una"),
    ("stopped", "stopped", "detenido"),
];

/// Returns the text for `key` with its placeholders filled.
pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }
}
