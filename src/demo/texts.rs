//! The demo's messages in English and Spanish, and the printer that writes
//! them: lines to stdout, errors to stderr. The drkit commands the demo
//! starts write to the same stdout and stderr.

use std::fmt::Display;
use std::io::Write;

use crate::i18n::{self, Lang, Row};

/// Width at which explanations are wrapped.
const WRAP_COLUMNS: usize = 80;

pub const TEXTS: &[Row] = &[
    ("error", "error", "error"),
    (
        "intro",
        "drkit demo: a sample Virtualmin server and its replica in {dir}, and the main job run on them step by step.",
        "drkit demo: un servidor Virtualmin de ejemplo y su réplica en {dir}, y el trabajo principal ejecutado sobre ellos paso a paso.",
    ),
    (
        "cleaned",
        "Removed the files of the previous demo run from {dir}.",
        "Se han borrado de {dir} los archivos de la ejecución anterior de la demostración.",
    ),
    (
        "not_a_folder",
        "{dir} exists and is not a folder. Choose another path: drkit demo DIR",
        "{dir} existe y no es una carpeta. Elija otra ruta: drkit demo DIR",
    ),
    (
        "not_demo_folder",
        "{dir} already has content but no {marker} file, so no earlier `drkit demo` run made it. The demo deletes and rebuilds its folder, so it only uses a new folder, an empty one, or one from an earlier demo run. Nothing was changed. Choose another folder: drkit demo DIR",
        "{dir} ya tiene contenido pero no el archivo {marker}, así que no la creó una ejecución anterior de `drkit demo`. La demostración borra y reconstruye su carpeta, por eso solo usa una carpeta nueva, una vacía o una de una ejecución anterior. No se ha cambiado nada. Elija otra carpeta: drkit demo DIR",
    ),
    ("setup_failed", "the demo could not be prepared: {reason}", "no se pudo preparar la demostración: {reason}"),
    (
        "marker_text",
        "This folder was created by `drkit demo`. Running the demo again here deletes and rebuilds primary/, replica/, data/, reports/, jobs/ and drkit.toml; other files are left alone.\n",
        "Esta carpeta la creó `drkit demo`. Si vuelve a ejecutar la demostración aquí, se borran y se reconstruyen primary/, replica/, data/, reports/, jobs/ y drkit.toml; el resto de archivos no se toca.\n",
    ),
    ("io_create", "cannot create {path}: {error}", "no se puede crear {path}: {error}"),
    ("io_write", "cannot write {path}: {error}", "no se puede escribir {path}: {error}"),
    ("io_read", "cannot read {path}: {error}", "no se puede leer {path}: {error}"),
    ("io_copy", "cannot copy {path}: {error}", "no se puede copiar {path}: {error}"),
    ("io_remove", "cannot remove {path}: {error}", "no se puede borrar {path}: {error}"),
    ("io_link", "cannot create the symlink {path}: {error}", "no se puede crear el enlace simbólico {path}: {error}"),
    ("no_exe", "cannot find the path of the drkit binary: {error}", "no se encuentra la ruta del binario de drkit: {error}"),
    (
        "built_wordpress",
        "Built the primary in {path}: three Virtualmin domains (example.com, shop.example.net, blog.example.org), each with the WordPress tree of the Debian package, copied from {tree}, plus a page, uploads and a mailbox of its own; and the Apache and Webmin config folders. {count} files and symlinks in all.",
        "Se ha construido el servidor primario en {path}: tres dominios de Virtualmin (example.com, shop.example.net, blog.example.org), cada uno con el árbol de WordPress del paquete de Debian, copiado de {tree}, y con su propia página, sus archivos subidos y su buzón; además, las carpetas de configuración de Apache y Webmin. En total, {count} archivos y enlaces simbólicos.",
    ),
    (
        "built_generated",
        "Built the primary in {path}: three Virtualmin domains (example.com, shop.example.net, blog.example.org), each with a generated WordPress-like tree ({tree} was not found; `apt-get install wordpress` provides the real one), plus a page, uploads and a mailbox of its own; and the Apache and Webmin config folders. {count} files and symlinks in all.",
        "Se ha construido el servidor primario en {path}: tres dominios de Virtualmin (example.com, shop.example.net, blog.example.org), cada uno con un árbol generado parecido a WordPress (no se encontró {tree}; `apt-get install wordpress` instala el real) y con su propia página, sus archivos subidos y su buzón; además, las carpetas de configuración de Apache y Webmin. En total, {count} archivos y enlaces simbólicos.",
    ),
    (
        "wrote_config",
        "Wrote the config {path}: three sync sets, home (the domains' home folders), apache and webmin, replicated into {replica}. Every set skips *.tmp files, the home set also skips cache/ folders, and each set keeps {keep} versions.",
        "Se ha escrito la configuración {path}: tres conjuntos de sincronización, home (las carpetas home de los dominios), apache y webmin, replicados en {replica}. Todos los conjuntos omiten los archivos *.tmp, home omite además las carpetas cache/ y cada conjunto guarda {keep} versiones.",
    ),
    (
        "wrote_jobs",
        "Wrote the job files into {dir}. On a server, cron starts `drkit run --due` every minute, and it runs the jobs whose schedule is due:",
        "Se han escrito los archivos de trabajo en {dir}. En un servidor, cron lanza `drkit run --due` cada minuto y este ejecuta los trabajos a los que les toca según su programación:",
    ),
    (
        "job_line",
        "  {file}: {kind}, schedule \"{schedule}\", timeout {timeout}",
        "  {file}: {kind}, programación \"{schedule}\", tiempo límite {timeout}",
    ),
    (
        "job_sync_description",
        "Copy the changed files of every demo set to the replica",
        "Copia a la réplica los archivos cambiados de cada conjunto de la demostración",
    ),
    (
        "job_verify_description",
        "Re-hash source and replica of every demo set",
        "Vuelve a calcular el hash del origen y de la réplica de cada conjunto de la demostración",
    ),
    ("job_report_description", "Write the daily report and the status files", "Escribe el informe diario y los archivos de estado"),
    (
        "config_check_why",
        "First, drkit checks the config and prints what it sets up:",
        "Primero, drkit comprueba la configuración y muestra lo que define:",
    ),
    (
        "no_home_set",
        "the config {path} has no sync set named \"home\"",
        "la configuración {path} no tiene ningún conjunto de sincronización llamado \"home\"",
    ),
    ("spawn_failed", "cannot start `{command}`: {error}", "no se puede iniciar `{command}`: {error}"),
    ("killed", "`{command}` was ended by a signal", "`{command}` terminó por una señal"),
    (
        "exit_unexpected",
        "`{command}` exited with code {code}, expected {expected}",
        "`{command}` terminó con el código {code}; se esperaba {expected}",
    ),
    ("step_header", "== Step {number} of {total}: {title} ==", "== Paso {number} de {total}: {title} =="),
    (
        "step_failed",
        "step {number} ({title}) did not behave as expected: {reason}. The files are left in {dir} for inspection.",
        "el paso {number} ({title}) no se comportó como se esperaba: {reason}. Los archivos quedan en {dir} para revisarlos.",
    ),
    (
        "all_done",
        "All {total} steps behaved as expected. The files stay in {dir}; run the demo again to rebuild it from scratch.",
        "Los {total} pasos se comportaron como se esperaba. Los archivos quedan en {dir}; vuelva a ejecutar la demostración para reconstruirla desde cero.",
    ),
    ("step1_title", "first sync", "primera sincronización"),
    (
        "step1_why",
        "The replica is still empty, so the first sync copies every file of the three sets with its mode and mtime. Symlinks are copied as links and never followed: the domains' log links point outside the set. Later syncs recognise unchanged files by size, mtime, inode and ctime against the manifest stored in SQLite, and copy only the files whose content changed.",
        "La réplica aún está vacía, así que la primera sincronización copia todos los archivos de los tres conjuntos con sus permisos y su mtime. Los enlaces simbólicos se copian como enlaces y nunca se siguen: los enlaces a los logs de los dominios apuntan fuera del conjunto. Las siguientes sincronizaciones reconocen los archivos sin cambios por tamaño, mtime, inodo y ctime frente al manifiesto guardado en SQLite, y solo copian los archivos cuyo contenido ha cambiado.",
    ),
    ("missing_on_replica", "{path} is missing on the replica after the sync", "falta {path} en la réplica después de la sincronización"),
    ("excluded_copied", "{path} reached the replica although the config excludes it", "{path} llegó a la réplica aunque la configuración lo excluye"),
    (
        "step1_excluded",
        "The page cache (wp-content/cache/) and the temporary uploads (tmp/*.tmp) stayed on the primary, as the excludes ask.",
        "La caché de páginas (wp-content/cache/) y las subidas temporales (tmp/*.tmp) se quedaron en el primario, como piden las exclusiones.",
    ),
    ("step2_title", "changes on the primary", "cambios en el primario"),
    (
        "step2_why",
        "A normal day on the hosting server: a customer edits a page, uploads a product photo and deletes an old post. The demo makes these three changes in the primary's home folders:",
        "Un día normal en el servidor de alojamiento: un cliente edita una página, sube una foto de un producto y borra una entrada antigua. La demostración hace estos tres cambios en las carpetas home del primario:",
    ),
    ("change_edited", "  edited:  {path} (\"{from}\" is now \"{to}\")", "  editado: {path} (\"{from}\" pasa a ser \"{to}\")"),
    ("change_added", "  added:   {path} ({size})", "  añadido: {path} ({size})"),
    ("change_deleted", "  deleted: {path}", "  borrado: {path}"),
    ("step3_title", "second sync, which keeps a version", "segunda sincronización, que guarda una versión"),
    (
        "step3_why",
        "Before the sync changes the replica, it keeps the replica's current state as a version: a folder of hard links, so unchanged files take no extra space. A file deleted or overwritten on the primary, by mistake or by ransomware, can still be taken back from the version. Only the home set changed, so only home gets a version.",
        "Antes de cambiar la réplica, la sincronización guarda su estado actual como una versión: una carpeta de enlaces duros, así que los archivos sin cambios no ocupan espacio extra. Un archivo borrado o sobrescrito en el primario, por error o por un ransomware, se puede recuperar de esa versión. Solo ha cambiado el conjunto home, así que solo home recibe una versión.",
    ),
    ("no_version", "no version was kept in {path}", "no se guardó ninguna versión en {path}"),
    ("version_folder", "The version folder: {path}", "La carpeta de la versión: {path}"),
    (
        "version_lacks",
        "{path} is not in the version as it was before the change",
        "{path} no está en la versión tal como era antes del cambio",
    ),
    (
        "version_has_deleted",
        "  {path}: deleted on the primary, still in the version",
        "  {path}: borrado en el primario, sigue en la versión",
    ),
    ("version_has_old_text", "  {path}: the version still reads \"{text}\"", "  {path}: la versión aún dice \"{text}\""),
    (
        "replica_not_updated",
        "{path} on the replica does not have the edited text",
        "{path} en la réplica no tiene el texto editado",
    ),
    ("replica_has_new_text", "  the replica itself now reads \"{text}\"", "  la réplica en sí ya dice \"{text}\""),
    ("step4_title", "verify", "verificación"),
    (
        "step4_why",
        "verify reads every file on both sides again and compares their BLAKE3 hashes, ignoring the cached manifest. Only a check like this shows that the replica can really replace the primary.",
        "verify vuelve a leer todos los archivos de ambos lados y compara sus hashes BLAKE3, sin fiarse del manifiesto en caché. Solo una comprobación así demuestra que la réplica puede sustituir de verdad al primario.",
    ),
    ("step5_title", "silent corruption on the replica", "corrupción silenciosa en la réplica"),
    (
        "step5_why",
        "A disk error now damages one file on the replica: the demo inverts {count} bytes in the middle of {path} and puts its mtime back. Size and mtime stay the same, so a check that compares only those (such as rsync's default quick check) sees nothing. The versions share this file through hard links and hold the same damaged bytes: versions protect against changes made on the primary, verify protects against damage on the replica.",
        "Ahora un error de disco daña un archivo de la réplica: la demostración invierte {count} bytes en mitad de {path} y restaura su mtime. El tamaño y el mtime no cambian, así que una comprobación que solo mira eso (como la comprobación rápida por defecto de rsync) no ve nada. Las versiones comparten este archivo mediante enlaces duros y tienen los mismos bytes dañados: las versiones protegen de los cambios hechos en el primario; verify, de los daños en la réplica.",
    ),
    (
        "corruption_visible",
        "the corruption changed the size or mtime of {path}",
        "la corrupción cambió el tamaño o el mtime de {path}",
    ),
    (
        "corrupted",
        "  inverted {count} bytes at offset {offset}; the file still has {size} bytes and its old mtime",
        "  invertidos {count} bytes en la posición {offset}; el archivo sigue teniendo {size} bytes y su mtime anterior",
    ),
    (
        "step5_verify",
        "verify hashes the file again and finds the damage. Here verify is expected to exit with code 1, the code of a failed check:",
        "verify vuelve a calcular el hash del archivo y encuentra el daño. Aquí se espera que verify termine con el código 1, el de una comprobación fallida:",
    ),
    ("corruption_not_listed", "verify did not list {path} as different", "verify no listó {path} como distinto"),
    (
        "step5_found",
        "As expected, verify exited with code 1 and listed {path}.",
        "Como se esperaba, verify terminó con el código 1 y listó {path}.",
    ),
    ("step6_title", "repair", "reparación"),
    (
        "step6_why",
        "The repair is an ordinary sync of the set. verify stored the fresh hashes of both sides, so the sync sees that the replica's copy differs and copies the primary's file again, atomically: into a temporary file first, then renamed over the damaged one.",
        "La reparación es una sincronización normal del conjunto. verify guardó los hashes recién calculados de ambos lados, así que la sincronización ve que la copia de la réplica es distinta y vuelve a copiar el archivo del primario de forma atómica: primero en un archivo temporal, que después se renombra sobre el dañado.",
    ),
    ("not_repaired", "{path} on the replica still differs from the primary", "{path} en la réplica sigue siendo distinto del primario"),
    ("repaired", "{path} on the replica equals the primary's file again.", "{path} en la réplica vuelve a ser igual al archivo del primario."),
    (
        "step6_verify",
        "A second verify confirms that the replica matches the primary:",
        "Una segunda verificación confirma que la réplica coincide con el primario:",
    ),
    ("step7_title", "daily report", "informe diario"),
    (
        "step7_why",
        "The daily report writes static HTML pages and JSON status files into the report folder, where Apache can serve them; on a server, the report-daily job writes it every morning.",
        "El informe diario escribe páginas HTML estáticas y archivos de estado JSON en la carpeta de informes, desde donde Apache puede servirlos; en un servidor, el trabajo report-daily lo escribe cada mañana.",
    ),
    ("no_report", "{path} was not written", "no se escribió {path}"),
    ("report_at", "Open the report in a browser: {path}", "Abra el informe en un navegador: {path}"),
];

/// Returns the text for `key` with its placeholders filled.
pub fn format(lang: Lang, key: &str, args: &[(&str, &dyn Display)]) -> String {
    i18n::format(TEXTS, lang, key, args)
}

/// Prints the demo's lines in one language.
#[derive(Debug, Clone, Copy)]
pub struct Output {
    lang: Lang,
}

impl Output {
    pub fn new(lang: Lang) -> Output {
        Output { lang }
    }

    pub fn lang(self) -> Lang {
        self.lang
    }

    pub fn text(self, key: &str) -> &'static str {
        i18n::text(TEXTS, self.lang, key)
    }

    pub fn format(self, key: &str, args: &[(&str, &dyn Display)]) -> String {
        format(self.lang, key, args)
    }

    /// Prints one line.
    pub fn say(self, key: &str, args: &[(&str, &dyn Display)]) {
        println!("{}", self.format(key, args));
    }

    /// Prints a text wrapped at `WRAP_COLUMNS`.
    pub fn paragraph(self, key: &str, args: &[(&str, &dyn Display)]) {
        println!("{}", wrap(&self.format(key, args), WRAP_COLUMNS));
    }

    pub fn blank(self) {
        println!();
    }

    /// Prints a command as typed at a shell prompt.
    pub fn command(self, line: &str) {
        println!("$ {line}");
    }

    /// Flushes stdout, so the demo's lines come before those of a child process.
    pub fn flush(self) {
        let _ = std::io::stdout().flush();
    }

    /// Prints an error on stderr.
    pub fn error(self, message: &str) {
        self.flush();
        eprintln!("{}: {message}", self.text("error"));
    }
}

/// Breaks `text` into lines of at most `columns` characters at spaces; a
/// longer word (a path) gets a line of its own.
fn wrap(text: &str, columns: usize) -> String {
    let mut out = String::new();
    let mut line_len = 0;
    for word in text.split_whitespace() {
        let len = word.chars().count();
        if line_len > 0 && line_len + 1 + len > columns {
            out.push('\n');
            line_len = 0;
        } else if line_len > 0 {
            out.push(' ');
            line_len += 1;
        }
        out.push_str(word);
        line_len += len;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_complete() {
        i18n::check_table(TEXTS).unwrap();
    }

    #[test]
    fn marker_text_names_every_created_entry() {
        for lang in [Lang::En, Lang::Es] {
            let text = i18n::text(TEXTS, lang, "marker_text");
            for name in super::super::folder::CREATED {
                assert!(text.contains(name), "{lang:?} marker text lacks {name}");
            }
        }
    }

    #[test]
    fn wrap_breaks_at_spaces() {
        assert_eq!(wrap("aa bb cc", 5), "aa bb\ncc");
        assert_eq!(wrap("a verylongword b", 4), "a\nverylongword\nb");
        assert_eq!(wrap("", 10), "");
    }

    #[test]
    fn wrapped_lines_fit() {
        for (key, en, es) in TEXTS {
            for text in [en, es] {
                for line in wrap(text, WRAP_COLUMNS).lines() {
                    let long_word = !line.contains(' ');
                    assert!(line.chars().count() <= WRAP_COLUMNS || long_word, "{key}: {line}");
                }
            }
        }
    }
}
