//! Messages of the job runner and of job file errors, in English and Spanish.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

#[rustfmt::skip]
pub const TEXTS: &[Row] = &[
    // Job file errors: the frame, then one message and one fix per problem.
    ("invalid", "{path}:{line}:{column}: {key}: {message}\n  fix: {fix}", "{path}:{line}:{column}: {key}: {message}\n  solución: {fix}"),
    ("missing_dir", "the job folder {dir} does not exist", "la carpeta de trabajos {dir} no existe"),
    ("missing_dir_fix", "create it and put the job files (*.toml) in it, or set [jobs] dir in {config}", "créela y ponga en ella los archivos de trabajo (*.toml), o defina [jobs] dir en {config}"),
    ("read_dir_failed", "cannot list the job folder {dir}: {error}", "no se puede listar la carpeta de trabajos {dir}: {error}"),
    ("read_failed", "cannot read the job file {path}: {error}", "no se puede leer el archivo de trabajo {path}: {error}"),
    ("toml", "{detail}", "{detail}"),
    ("toml_fix", "correct the value or the TOML syntax at this position", "corrija el valor o la sintaxis TOML en esta posición"),
    ("unknown_key", "unknown key \"{key}\"", "clave desconocida \"{key}\""),
    ("unknown_key_fix", "remove it or correct its spelling; a job file takes name, kind, schedule, timeout, description and [params]", "bórrela o corrija su nombre; un archivo de trabajo admite name, kind, schedule, timeout, description y [params]"),
    ("unknown_param_fix", "remove it or correct its spelling; [params] takes sets (sync, verify), report (report) and argv (command)", "bórrela o corrija su nombre; [params] admite sets (sync, verify), report (report) y argv (command)"),
    ("missing_key", "the key \"{key}\" is missing", "falta la clave \"{key}\""),
    ("missing_key_fix", "add it; every job file sets name, kind, schedule and timeout", "añádala; todo archivo de trabajo define name, kind, schedule y timeout"),
    ("invalid_name", "invalid job name \"{name}\"", "nombre de trabajo no válido \"{name}\""),
    ("invalid_name_fix", "use 1-64 letters, digits, '-' or '_', starting with a letter or digit, such as \"sync-all\"", "use de 1 a 64 letras, dígitos, '-' o '_', empezando por una letra o un dígito, como \"sync-all\""),
    ("duplicate_name", "the job name \"{name}\" is already used by {other}", "el nombre de trabajo \"{name}\" ya lo usa {other}"),
    ("duplicate_name_fix", "give every job file its own name", "dé a cada archivo de trabajo su propio nombre"),
    ("unknown_kind", "unknown job kind \"{kind}\"", "tipo de trabajo desconocido \"{kind}\""),
    ("unknown_kind_fix", "use one of: sync, verify, report, command", "use uno de: sync, verify, report, command"),
    ("schedule", "invalid schedule \"{text}\": {detail}", "programación no válida \"{text}\": {detail}"),
    ("schedule_fix", "write five fields (minute hour day-of-month month day-of-week), such as \"30 3 * * *\" for 03:30 every day; see crontab(5)", "escriba cinco campos (minuto hora día-del-mes mes día-de-la-semana), como \"30 3 * * *\" para las 03:30 de cada día; vea crontab(5)"),
    ("field_count", "it has {found} fields, a cron expression has 5", "tiene {found} campos y una expresión cron tiene 5"),
    ("unknown_alias", "unknown alias {alias}; the aliases are @hourly, @daily, @midnight, @weekly, @monthly, @yearly and @annually", "alias desconocido {alias}; los alias son @hourly, @daily, @midnight, @weekly, @monthly, @yearly y @annually"),
    ("invalid_value", "invalid value \"{text}\" in the {field} field", "valor no válido \"{text}\" en el campo {field}"),
    ("out_of_range", "{value} is outside the {field} range {min}-{max}", "{value} está fuera del rango {min}-{max} del campo {field}"),
    ("reversed_range", "the range \"{text}\" in the {field} field starts after its end", "el rango \"{text}\" del campo {field} empieza después de su final"),
    ("invalid_step", "invalid step \"{text}\" in the {field} field; a step is a whole number of at least 1", "paso no válido \"{text}\" en el campo {field}; un paso es un número entero mayor o igual que 1"),
    ("field_minute", "minute", "minuto"),
    ("field_hour", "hour", "hora"),
    ("field_day_of_month", "day-of-month", "día del mes"),
    ("field_month", "month", "mes"),
    ("field_day_of_week", "day-of-week", "día de la semana"),
    ("timeout", "invalid timeout \"{text}\"", "límite de tiempo no válido \"{text}\""),
    ("timeout_fix", "write a duration above zero with a unit (s, m, h, d), such as \"30m\" or \"1h30m\"", "escriba una duración mayor que cero con su unidad (s, m, h, d), como \"30m\" o \"1h30m\""),
    ("unknown_set", "the config has no sync set named \"{set}\"", "la configuración no tiene ningún conjunto de sincronización llamado \"{set}\""),
    ("unknown_set_fix", "use one of the config's sets: {known}", "use uno de los conjuntos de la configuración: {known}"),
    ("unknown_set_none_fix", "add a [[sync]] set with this name to the config, or remove params.sets to use every set", "añada a la configuración un conjunto [[sync]] con este nombre, o quite params.sets para usar todos los conjuntos"),
    ("empty_sets", "the list of sets is empty", "la lista de conjuntos está vacía"),
    ("empty_sets_fix", "name at least one set, or remove params.sets to use every set", "nombre al menos un conjunto, o quite params.sets para usar todos los conjuntos"),
    ("param_not_for_kind", "a {kind} job takes no parameter \"{param}\"", "un trabajo {kind} no admite el parámetro \"{param}\""),
    ("param_not_for_kind_fix", "remove it; {kind} takes: {allowed}", "bórrelo; {kind} admite: {allowed}"),
    ("missing_param", "a {kind} job needs the parameter \"{param}\"", "un trabajo {kind} necesita el parámetro \"{param}\""),
    ("missing_param_report_fix", "add report = \"daily\" under [params]", "añada report = \"daily\" bajo [params]"),
    ("missing_param_argv_fix", "add argv = [\"/path/to/program\", \"argument\", …] under [params]", "añada argv = [\"/ruta/al/programa\", \"argumento\", …] bajo [params]"),
    ("unknown_report", "unknown report \"{report}\"", "informe desconocido \"{report}\""),
    ("unknown_report_fix", "use \"daily\"", "use \"daily\""),
    ("empty_argv", "the command is empty", "el comando está vacío"),
    ("relative_program", "the program \"{program}\" is not an absolute path", "el programa \"{program}\" no es una ruta absoluta"),
    ("relative_program_fix", "write the program's full path, such as \"/usr/local/bin/backup-hook\"; the command runs without a shell and without a PATH search", "escriba la ruta completa del programa, como \"/usr/local/bin/backup-hook\"; el comando se ejecuta sin shell y sin buscar en PATH"),
    // The runner.
    ("unknown_job", "no job is named \"{name}\"; the job files in {dir} define: {known}", "ningún trabajo se llama \"{name}\"; los archivos de trabajo de {dir} definen: {known}"),
    ("no_jobs", "(none)", "(ninguno)"),
    ("job_ok", "{name}: ok in {secs}", "{name}: completado sin errores en {secs}"),
    ("job_failed", "{name}: failed after {secs} ({detail})", "{name}: falló tras {secs} ({detail})"),
    ("job_timed_out", "{name}: timed out, exceeded its timeout of {timeout}; its processes were stopped after {secs}", "{name}: superó su límite de tiempo de {timeout}; sus procesos se detuvieron tras {secs}"),
    ("job_interrupted", "{name}: stopped after {secs} because drkit run received {signal}", "{name}: detenido tras {secs} porque drkit run recibió {signal}"),
    ("job_skipped", "{name}: skipped, another run of this job still holds {lock}{holder}", "{name}: omitido, otra ejecución de este trabajo aún tiene {lock}{holder}"),
    ("job_not_started", "{name}: not started: {detail}", "{name}: no se inició: {detail}"),
    ("exit_code", "exit code {code}", "código de salida {code}"),
    ("killed_by", "ended by signal {signal}", "terminado por la señal {signal}"),
    ("command_failed", "command {program}: {detail}", "comando {program}: {detail}"),
    ("command_not_started", "cannot start the command {program}: {error}", "no se puede iniciar el comando {program}: {error}"),
    // `drkit run --list`.
    ("list_job", "JOB", "TRABAJO"),
    ("list_kind", "KIND", "TIPO"),
    ("list_schedule", "SCHEDULE", "PROGRAMACIÓN"),
    ("list_timeout", "TIMEOUT", "LÍMITE"),
    ("list_next", "NEXT RUN", "PRÓXIMA EJECUCIÓN"),
    ("list_description", "DESCRIPTION", "DESCRIPCIÓN"),
    ("list_never", "never", "nunca"),
    ("list_empty", "no job files in {dir}", "no hay archivos de trabajo en {dir}"),
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
