//! Spanish help: the clap definition in `main.rs` carries the English help
//! in its doc comments; this table replaces each text when the language is
//! Spanish. A unit test checks every command and option has a translation.

use clap::{Arg, ArgAction, Command};

use crate::i18n::Lang;

/// (command path, argument id or "" for the command itself, Spanish text).
/// The path is the command's name, with its parent's name before it for a
/// nested command ("config check"), because two nested commands may share a name.
const HELP: &[(&str, &str, &str)] = &[
    ("drkit", "", "Mantiene un servidor secundario listo y lo demuestra: replicación, verificación, informes."),
    ("drkit", "config", "Archivo de configuración [por defecto: $DRKIT_CONFIG, si no /etc/drkit/drkit.toml]"),
    ("drkit", "lang", "Idioma de los mensajes: en o es [por defecto: site.language de la configuración, si no LANG]"),
    ("drkit", "verbose", "Más detalle en stderr (-v: info, -vv: depuración)"),
    ("drkit", "help", "Muestra la ayuda"),
    ("drkit", "version", "Muestra la versión"),
    ("sync", "", "Copia los archivos cambiados de los conjuntos nombrados (todos si no se nombra ninguno) a sus réplicas"),
    ("sync", "sets", "Conjuntos a sincronizar, por nombre [por defecto: todos]"),
    ("sync", "json", "Imprime un resumen JSON por conjunto en stdout en lugar de texto"),
    ("sync", "max_delete", "Permite este número de borrados en esta ejecución: un porcentaje como \"25%\" o un número de archivos"),
    ("sync", "paths", "Sincroniza solo esta ruta del origen (absoluta o relativa al origen) y, si es una carpeta, todo lo que contiene; se puede repetir"),
    ("verify", "", "Vuelve a calcular el hash del origen y la réplica de los conjuntos nombrados y lista cada diferencia"),
    ("verify", "sets", "Conjuntos a verificar, por nombre [por defecto: todos]"),
    ("verify", "json", "Imprime un informe JSON por conjunto en stdout en lugar de texto"),
    ("watch", "", "Replica un conjunto en cada cambio: vigila su origen con inotifywait y sincroniza las rutas cambiadas"),
    ("watch", "set", "El conjunto a vigilar, por nombre"),
    ("watch", "debounce", "Segundos de espera tras el primer cambio de un lote para reunir más cambios; 0 sincroniza en el acto"),
    ("watch", "interval", "Segundos entre sincronizaciones completas cuando no se puede poner ninguna vigilancia de inotify"),
    ("run", "", "Ejecuta trabajos ahora, en paralelo, o los que tocan en este minuto (--due)"),
    ("run", "jobs", "Trabajos a ejecutar ahora, por nombre"),
    ("run", "due", "Ejecuta cada trabajo cuya programación coincide con el minuto actual (para una sola línea de crontab)"),
    ("run", "list", "Lista los trabajos y su programación en lugar de ejecutarlos"),
    ("status", "", "Muestra la última sincronización de cada conjunto, su retraso frente al objetivo RPO y las ejecuciones recientes"),
    ("status", "json", "Imprime el estado en JSON (el contenido de dr_status.json)"),
    ("report", "", "Escribe los informes HTML y JSON en la carpeta de informes"),
    ("report daily", "", "Escribe el informe de hoy, el panel y los archivos de estado JSON"),
    ("config", "", "Comprueba el archivo de configuración y muestra lo que define"),
    ("config check", "", "Valida el archivo de configuración sin tocar nada y muestra lo que define"),
    ("db", "", "Vuelca bases de datos en una carpeta sincronizada, las restaura y muestra el retraso de las réplicas"),
    ("db dump", "", "Vuelca las bases de datos de los servidores [[database]] nombrados (todos si no se nombra ninguno) en sus carpetas de volcados"),
    ("db dump", "names", "Entradas [[database]] a volcar, por nombre [por defecto: todas]"),
    ("db restore", "", "Restaura los volcados de la réplica (o de una versión suya) en el servidor configurado como NAME"),
    ("db restore", "name", "La entrada [[database]] del servidor donde restaurar"),
    ("db restore", "database", "Restaura solo esta base de datos [por defecto: todas las volcadas]"),
    ("db restore", "version", "Restaura los volcados guardados en esta versión de la réplica (un nombre de carpeta como 20261204T203000.123Z) [por defecto: los volcados actuales de la réplica]"),
    ("db restore", "force", "Reemplaza las bases de datos aunque se hayan escrito después del volcado"),
    ("db lag", "", "Muestra cuántos segundos va por detrás la replicación nativa de cada servidor nombrado (todos si no se nombra ninguno)"),
    ("db lag", "names", "Entradas [[database]] a consultar, por nombre [por defecto: todas]"),
    ("config check", "json", "Imprime la configuración aceptada como un documento JSON en stdout (para scripts)"),
    ("init", "", "Crea la carpeta de datos y la base de datos de estado"),
    ("demo", "", "Construye un árbol de alojamiento de ejemplo y ejecuta en él el trabajo principal, paso a paso"),
    ("demo", "dir", "Carpeta donde construir la demostración [por defecto: ./drkit-demo]"),
    ("peer", "", "Fija la clave de host SSH de un par, o comprueba que cada par acepta la clave de drkit"),
    ("peer trust", "", "Se conecta a un nodo, muestra su clave de host y la fija en known_hosts tras confirmarlo"),
    ("peer trust", "name", "Nodo cuya clave de host se fija: el NOMBRE de una sección [nodes.NOMBRE]"),
    ("peer trust", "yes", "Fija la clave sin preguntar (para scripts); compruebe antes la huella por otra vía"),
    ("peer check", "", "Se conecta y se autentica en cada nodo, e informa de la huella y del tiempo empleado"),
    ("peer check", "nodes", "Nodos a comprobar, por nombre [por defecto: todos]"),
    ("help", "", "Muestra esta ayuda o la de un subcomando"),
    ("agent", "", "Atiende las sincronizaciones de un primario en este par por stdin/stdout (lo inicia SSH)"),
    ("agent", "root", "Carpeta de la que el agente no sale: cada réplica y cada carpeta de versiones deben estar dentro"),
    ("agent", "state", "Carpeta de la base de datos y los bloqueos del agente"),
];

/// Returns `command` with its help texts in `lang`.
pub fn localize(command: Command, lang: Lang) -> Command {
    if lang != Lang::Es {
        return command;
    }
    let command = command.disable_version_flag(true).arg(
        Arg::new("version")
            .short('V')
            .long("version")
            .action(ArgAction::Version)
            .help("Muestra la versión"),
    );
    localize_one(command, "drkit")
}

fn localize_one(mut command: Command, path: &str) -> Command {
    // clap's own --help is replaced by one with a Spanish text.
    command = command
        .help_template("{about-with-newline}\nUso: {usage}\n\n{all-args}{after-help}")
        .subcommand_help_heading("Comandos")
        .disable_help_flag(true)
        .arg(
            Arg::new("help")
                .short('h')
                .long("help")
                .action(ArgAction::Help)
                .help("Muestra la ayuda"),
        );
    if path != "drkit" {
        command = command.disable_version_flag(true);
    }
    let args: Vec<(String, bool)> = command
        .get_arguments()
        .map(|a| (a.get_id().to_string(), a.is_positional()))
        .collect();
    for (id, positional) in args {
        let heading = if positional { "Argumentos" } else { "Opciones" };
        command = command.mut_arg(&id, |a| a.help_heading(heading));
    }
    for (cmd, arg, text) in HELP {
        if *cmd != path {
            continue;
        }
        if arg.is_empty() {
            command = command.about(*text);
        } else if command.get_arguments().any(|a| a.get_id() == *arg) {
            command = command.mut_arg(*arg, |a| a.help(*text));
        }
    }
    let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_string()).collect();
    for name in names {
        let sub_path = subcommand_path(path, &name);
        command = command.mut_subcommand(&name, |sub| localize_one(sub, &sub_path));
    }
    command
}

/// Returns the HELP path of subcommand `name` of the command at `path`.
fn subcommand_path(path: &str, name: &str) -> String {
    if path == "drkit" || name == "help" {
        name.to_string()
    } else {
        format!("{path} {name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    fn visit(command: &Command, path: &str, missing: &mut Vec<String>) {
        if command.is_hide_set() {
            return;
        }
        if !HELP.iter().any(|(c, a, _)| *c == path && a.is_empty()) {
            missing.push(format!("{path}: about"));
        }
        for arg in command.get_arguments() {
            let id = arg.get_id().as_str();
            if arg.is_hide_set() || matches!(id, "help" | "version") || arg.is_global_set() && path != "drkit" {
                continue;
            }
            if !HELP.iter().any(|(c, a, _)| *c == path && *a == id) {
                missing.push(format!("{path}: {id}"));
            }
        }
        for sub in command.get_subcommands() {
            visit(sub, &subcommand_path(path, sub.get_name()), missing);
        }
    }

    #[test]
    fn every_command_and_option_is_translated() {
        let mut missing = Vec::new();
        visit(&crate::Cli::command(), "drkit", &mut missing);
        assert!(missing.is_empty(), "no Spanish help for: {missing:?}");
    }
}
