//! A generated stand-in for the WordPress tree, used when the Debian
//! `wordpress` package is not installed: about 140 small PHP, HTML, CSS and
//! JavaScript files and a few images per domain, laid out like WordPress.
//! The same domain name always gives the same names and bytes.

use std::path::Path;

use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};

use super::primary::{fake_image, seed_for};
use super::{write_file, FileError};

const WORDS: &[&str] = &[
    "post",
    "meta",
    "query",
    "cache",
    "user",
    "option",
    "term",
    "comment",
    "media",
    "theme",
    "widget",
    "menu",
    "block",
    "image",
    "feed",
    "rewrite",
    "nonce",
    "locale",
    "template",
    "sidebar",
    "revision",
    "taxonomy",
    "shortcode",
    "embed",
];

/// Writes the WordPress-like tree of `domain` into `public_html`.
pub fn build(public_html: &Path, domain: &str) -> Result<(), FileError> {
    let mut rng = StdRng::seed_from_u64(seed_for(&format!("generated:{domain}")));
    let w = |rel: &str, contents: String| write_file(&public_html.join(rel), contents);

    w("index.php", front_controller())?;
    w("wp-config.php", wp_config(domain))?;
    for name in ["wp-load", "wp-login", "wp-settings", "wp-cron", "wp-mail", "xmlrpc"] {
        w(&format!("{name}.php"), php_file(&mut rng, name))?;
    }
    w("readme.html", html_page(&mut rng, "ReadMe"))?;

    for i in 0..25 {
        let name = file_name("admin", i);
        w(&format!("wp-admin/{name}.php"), php_file(&mut rng, &name))?;
    }
    for i in 0..8 {
        let name = file_name("admin", i);
        w(&format!("wp-admin/css/{name}.css"), css_file(&mut rng))?;
        w(&format!("wp-admin/js/{name}.js"), js_file(&mut rng, &name))?;
    }
    for i in 0..4 {
        write_file(
            &public_html.join(format!("wp-admin/images/icon-{i}.png")),
            fake_image(&mut rng, 500, 3_000),
        )?;
    }

    for i in 0..40 {
        let name = file_name("class-wp", i);
        w(&format!("wp-includes/{name}.php"), php_file(&mut rng, &name))?;
    }
    for i in 0..10 {
        let name = file_name("wp", i);
        w(&format!("wp-includes/js/{name}.js"), js_file(&mut rng, &name))?;
    }
    for i in 0..5 {
        w(
            &format!("wp-includes/css/{}.css", file_name("dist", i)),
            css_file(&mut rng),
        )?;
    }

    write_theme(public_html, &mut rng)?;
    for plugin in ["contact-form", "seo-tools"] {
        for i in 0..6 {
            let name = file_name(plugin, i);
            w(
                &format!("wp-content/plugins/{plugin}/{name}.php"),
                php_file(&mut rng, &name),
            )?;
        }
    }
    for month in ["01", "02", "04", "07", "09", "11"] {
        let path = public_html.join(format!("wp-content/uploads/2024/{month}/photo-{month}.jpg"));
        write_file(&path, fake_image(&mut rng, 5_000, 40_000))?;
    }
    Ok(())
}

fn write_theme(public_html: &Path, rng: &mut StdRng) -> Result<(), FileError> {
    let theme = public_html.join("wp-content/themes/site");
    write_file(
        &theme.join("style.css"),
        format!("/*\nTheme Name: Site\nVersion: 1.4\n*/\n{}", css_file(rng)),
    )?;
    for name in [
        "functions",
        "index",
        "header",
        "footer",
        "single",
        "page",
        "404",
        "search",
    ] {
        write_file(&theme.join(format!("{name}.php")), php_file(rng, name))?;
    }
    for i in 0..3 {
        write_file(&theme.join(format!("assets/css/part-{i}.css")), css_file(rng))?;
    }
    for i in 0..2 {
        let name = format!("theme-{i}");
        write_file(&theme.join(format!("assets/js/{name}.js")), js_file(rng, &name))?;
    }
    write_file(&theme.join("screenshot.png"), fake_image(rng, 8_000, 20_000))
}

/// Returns a unique name for index `i`: `prefix-post`, …, then `prefix-post-2`, ….
fn file_name(prefix: &str, i: usize) -> String {
    let word = WORDS[i % WORDS.len()];
    match i / WORDS.len() {
        0 => format!("{prefix}-{word}"),
        round => format!("{prefix}-{word}-{}", round + 1),
    }
}

fn front_controller() -> String {
    "<?php\n/**\n * Front to the WordPress application.\n */\n\ndefine( 'WP_USE_THEMES', true );\n\
     require __DIR__ . '/wp-blog-header.php';\n"
        .to_string()
}

fn wp_config(domain: &str) -> String {
    let db = domain.split('.').next().unwrap_or("site");
    format!(
        "<?php\n// Database settings of {domain}; the demo writes no real password.\n\
         define( 'DB_NAME', '{db}' );\ndefine( 'DB_USER', '{db}' );\ndefine( 'DB_PASSWORD', 'change-me' );\n\
         define( 'DB_HOST', 'localhost' );\ndefine( 'DB_CHARSET', 'utf8mb4' );\n$table_prefix = 'wp_';\n\
         define( 'WP_DEBUG', false );\nif ( ! defined( 'ABSPATH' ) ) {{\n\tdefine( 'ABSPATH', __DIR__ . '/' );\n}}\n\
         require_once ABSPATH . 'wp-settings.php';\n"
    )
}

fn php_file(rng: &mut StdRng, name: &str) -> String {
    let mut out = format!("<?php\n/**\n * {name}: functions of this component.\n *\n * @package WordPress\n */\n\n");
    for _ in 0..rng.gen_range(2..12) {
        let a = WORDS.choose(rng).expect("WORDS is not empty");
        let b = WORDS.choose(rng).expect("WORDS is not empty");
        let n = rng.gen_range(1..100);
        out.push_str(&format!(
            "function wp_{a}_{b}_{n}( $args = array() ) {{\n\t$args = wp_parse_args( $args, array( '{a}' => {n} ) );\n\
             \treturn apply_filters( '{a}_{b}', $args );\n}}\n\n"
        ));
    }
    out
}

fn css_file(rng: &mut StdRng) -> String {
    let mut out = String::new();
    for _ in 0..rng.gen_range(4..30) {
        let class = WORDS.choose(rng).expect("WORDS is not empty");
        let margin = rng.gen_range(0..32);
        let color: u32 = rng.gen_range(0..0x100_0000);
        out.push_str(&format!(
            ".wp-{class} {{\n\tmargin: {margin}px 0;\n\tcolor: #{color:06x};\n}}\n\n"
        ));
    }
    out
}

fn js_file(rng: &mut StdRng, name: &str) -> String {
    let mut out = format!("/* {name} */\n(function () {{\n\t'use strict';\n");
    for _ in 0..rng.gen_range(2..10) {
        let word = WORDS.choose(rng).expect("WORDS is not empty");
        let delay = rng.gen_range(10..500);
        out.push_str(&format!(
            "\twindow.setTimeout(function () {{ document.body.classList.add('{word}'); }}, {delay});\n"
        ));
    }
    out.push_str("})();\n");
    out
}

fn html_page(rng: &mut StdRng, title: &str) -> String {
    let mut out = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head><meta charset=\"utf-8\"><title>{title}</title></head>\n<body>\n"
    );
    for _ in 0..rng.gen_range(3..10) {
        let word = WORDS.choose(rng).expect("WORDS is not empty");
        out.push_str(&format!("<p>The {word} screen lists every {word} of the site.</p>\n"));
    }
    out.push_str("</body>\n</html>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(root: &Path) -> Vec<(std::path::PathBuf, Vec<u8>)> {
        let mut files: Vec<_> = walkdir::WalkDir::new(root)
            .into_iter()
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_file())
            .map(|e| {
                (
                    e.path().strip_prefix(root).unwrap().to_path_buf(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        files.sort();
        files
    }

    #[test]
    fn generated_tree_is_deterministic() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        build(a.path(), "example.com").unwrap();
        build(b.path(), "example.com").unwrap();
        assert_eq!(tree(a.path()), tree(b.path()));
    }

    #[test]
    fn generated_tree_differs_per_domain() {
        let a = tempfile::tempdir().unwrap();
        let b = tempfile::tempdir().unwrap();
        build(a.path(), "example.com").unwrap();
        build(b.path(), "shop.example.net").unwrap();
        assert_ne!(tree(a.path()), tree(b.path()));
    }

    #[test]
    fn generated_tree_has_about_140_files() {
        let temp = tempfile::tempdir().unwrap();
        build(temp.path(), "example.com").unwrap();
        let count = tree(temp.path()).len();
        assert!((120..=160).contains(&count), "{count} files");
    }

    #[test]
    fn file_names_are_unique() {
        let names: std::collections::HashSet<String> = (0..100).map(|i| file_name("x", i)).collect();
        assert_eq!(names.len(), 100);
    }
}
