//! Messages of the agent, sent to the primary in the language it asked for.

use std::fmt::Display;

use crate::i18n::{self, Lang, Row};

pub const TEXTS: &[Row] = &[
    ("version_mismatch", "the agent on the peer speaks protocol version {agent}, this drkit speaks version {primary}; install the same drkit release on both hosts", "el agente del par habla la versión {agent} del protocolo y este drkit la versión {primary}; instale la misma versión de drkit en los dos equipos"),
    ("hello_twice", "protocol error: a second Hello in one session", "error de protocolo: un segundo Hello en la misma sesión"),
    ("state_unusable", "the agent cannot use its state folder {path}: {error}; check that it exists and that the agent's user may write it (option --state)", "el agente no puede usar su carpeta de estado {path}: {error}; compruebe que existe y que el usuario del agente puede escribir en ella (opción --state)"),
    ("versions_inside_target", "the versions folder {path} overlaps the replica; set versions_dir to a folder beside the target", "la carpeta de versiones {path} se solapa con la réplica; ponga versions_dir en una carpeta junto al destino"),
    ("bad_exclude", "invalid exclude pattern: {error}", "patrón de exclusión no válido: {error}"),
    ("cannot_create", "cannot create {path} on the peer: {error}", "no se puede crear {path} en el par: {error}"),
    ("not_open", "protocol error: no replica is open", "error de protocolo: no hay ninguna réplica abierta"),
    ("cannot_prune", "cannot delete old versions: {error}", "no se pueden borrar las versiones antiguas: {error}"),
    ("root_not_absolute", "the agent's root {path} must be an absolute path without \"..\"; fix --root in the authorized_keys command", "la raíz del agente {path} debe ser una ruta absoluta sin \"..\"; corrija --root en el comando de authorized_keys"),
    ("root_missing", "the agent's root {path} does not exist or is not a folder; create it or fix --root in the authorized_keys command", "la raíz del agente {path} no existe o no es una carpeta; créela o corrija --root en el comando de authorized_keys"),
    ("root_is_symlink", "the agent's root {path} is a symlink; give --root the real folder it points to", "la raíz del agente {path} es un enlace simbólico; dé a --root la carpeta real a la que apunta"),
    ("path_not_plain", "refused: {path} must be an absolute path without \".\" or \"..\"", "rechazado: {path} debe ser una ruta absoluta sin \".\" ni \"..\""),
    ("path_outside_root", "refused: {path} lies outside the agent's root; set target and versions_dir inside the root, or give the agent a wider --root", "rechazado: {path} está fuera de la raíz del agente; ponga target y versions_dir dentro de la raíz o dé al agente un --root más amplio"),
    ("path_through_symlink", "refused: {path} is a symlink on the peer, and the agent never follows a symlink to reach a replica", "rechazado: {path} es un enlace simbólico en el par, y el agente nunca sigue un enlace simbólico para llegar a una réplica"),
    ("path_not_folder", "refused: {path} exists on the peer and is not a folder", "rechazado: {path} existe en el par y no es una carpeta"),
    ("key_not_plain", "refused: the entry name {path} is not a plain relative path", "rechazado: el nombre de entrada {path} no es una ruta relativa simple"),
    ("key_through_symlink", "refused: {path} is a symlink or a file on the replica, and nothing is written or read through it", "rechazado: {path} es un enlace simbólico o un archivo en la réplica, y nada se escribe ni se lee a través de él"),
    ("key_not_file", "refused: {path} is not a regular file on the replica", "rechazado: {path} no es un archivo normal en la réplica"),
    ("key_not_folder", "refused: {path} is not a folder on the replica", "rechazado: {path} no es una carpeta en la réplica"),
    ("content_check_failed", "the received file does not match the primary's hash; nothing was replaced, and the next sync sends it again", "el archivo recibido no coincide con el hash del primario; no se reemplazó nada y la próxima sincronización lo vuelve a enviar"),
    ("file_grew", "the file grew past {limit} MiB while it was sent, far beyond its size when the source was walked; it was not replaced, and the next sync sends it again", "el archivo creció más de {limit} MiB mientras se enviaba, muy por encima de su tamaño al recorrer el origen; no se reemplazó y la próxima sincronización lo vuelve a enviar"),
    ("connection_lost", "the connection to the primary ended before this file arrived", "la conexión con el primario terminó antes de que llegara este archivo"),
];

pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

#[cfg(test)]
mod tests {
    #[test]
    fn table_is_complete() {
        crate::i18n::check_table(super::TEXTS).unwrap();
    }
}
