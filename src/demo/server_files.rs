//! The primary's Apache and Webmin config folders, shaped like those of a
//! Debian server managed by Virtualmin. Addresses come from 192.0.2.0/24,
//! the range set aside for documentation (RFC 5737).

use std::path::Path;

use super::{symlink, write_file, FileError};

const SERVER_IP: &str = "192.0.2.10";

/// Writes `ports.conf`, one virtual host file per domain in
/// `sites-available`, and its link in `sites-enabled`.
pub fn write_apache(apache: &Path, domains: &[&str]) -> Result<(), FileError> {
    write_file(
        &apache.join("ports.conf"),
        "# Ports Apache listens on.\nListen 80\n\n<IfModule ssl_module>\n\tListen 443\n</IfModule>\n",
    )?;
    for (index, domain) in domains.iter().enumerate() {
        let uid = 1001 + index;
        let file = format!("{domain}.conf");
        write_file(&apache.join("sites-available").join(&file), virtual_host(domain, uid))?;
        symlink(
            &Path::new("../sites-available").join(&file),
            &apache.join("sites-enabled").join(&file),
        )?;
    }
    Ok(())
}

fn virtual_host(domain: &str, uid: usize) -> String {
    let home = format!("/home/{domain}");
    let common = format!(
        "\tSuexecUserGroup \"#{uid}\" \"#{uid}\"\n\
         \tServerName {domain}\n\
         \tServerAlias www.{domain}\n\
         \tServerAlias mail.{domain}\n\
         \tDocumentRoot {home}/public_html\n\
         \tErrorLog /var/log/virtualmin/{domain}_error_log\n\
         \tCustomLog /var/log/virtualmin/{domain}_access_log combined\n\
         \tScriptAlias /cgi-bin/ {home}/cgi-bin/\n\
         \tDirectoryIndex index.php index.html index.htm\n\
         \t<Directory {home}/public_html>\n\
         \t\tOptions -Indexes +IncludesNOEXEC +SymLinksIfOwnerMatch\n\
         \t\tAllowOverride All Options=ExecCGI,Includes,IncludesNOEXEC,Indexes,MultiViews,SymLinksIfOwnerMatch\n\
         \t\tRequire all granted\n\
         \t</Directory>\n\
         \t<Directory {home}/cgi-bin>\n\
         \t\tRequire all granted\n\
         \t\tAllowOverride All Options=ExecCGI,Includes,IncludesNOEXEC,Indexes,MultiViews,SymLinksIfOwnerMatch\n\
         \t</Directory>\n\
         \t<FilesMatch \\.php$>\n\
         \t\tSetHandler proxy:unix:/run/php/{uid}.sock|fcgi://localhost\n\
         \t</FilesMatch>\n"
    );
    format!(
        "# Virtual hosts of {domain}, managed by Virtualmin.\n\
         <VirtualHost {SERVER_IP}:80>\n{common}\
         \tRewriteEngine on\n\
         \tRewriteCond %{{HTTPS}} off\n\
         \tRewriteRule ^/(.*) https://%{{HTTP_HOST}}/$1 [R=301,L]\n\
         </VirtualHost>\n\
         <VirtualHost {SERVER_IP}:443>\n{common}\
         \tSSLEngine on\n\
         \tSSLCertificateFile {home}/ssl.combined\n\
         \tSSLCertificateKeyFile {home}/ssl.key\n\
         \tSSLProtocol all -SSLv2 -SSLv3 -TLSv1 -TLSv1.1\n\
         </VirtualHost>\n"
    )
}

/// Writes Webmin's `miniserv.conf`, `config`, `miniserv.users`,
/// `webmin.acl` and one Virtualmin domain file per domain.
pub fn write_webmin(webmin: &Path, domains: &[&str]) -> Result<(), FileError> {
    write_file(&webmin.join("miniserv.conf"), MINISERV_CONF)?;
    write_file(
        &webmin.join("config"),
        "os_type=debian-linux\nos_version=12\nreal_os_type=Debian Linux\nreal_os_version=12\nlang=en\n\
         theme=authentic-theme\nwebprefix=\nreferers_none=1\nlogfiles=1\nlogtime=168\n",
    )?;
    // With "x" in the password field Webmin checks the Unix password, so no hash is stored here.
    write_file(&webmin.join("miniserv.users"), "root:x:0\n")?;
    write_file(
        &webmin.join("webmin.acl"),
        "root: acl apache bind8 cron fsdump mysql net postfix proc software syslog system-status useradmin virtual-server\n",
    )?;
    write_file(
        &webmin.join("virtual-server/config"),
        "home_base=/home\nhome_format=${DOM}\napache_config=ServerName ${DOM}\nphp_fpm=1\nbw_active=1\n\
         backup_dest=/backup/virtualmin\nbackup_fmt=2\nbackup_strftime=1\n",
    )?;
    for (index, domain) in domains.iter().enumerate() {
        let id = 174_894_196_400_000 + index as u64;
        let uid = 1001 + index;
        let user = domain.split('.').next().unwrap_or("site");
        write_file(
            &webmin.join(format!("virtual-server/domains/{id}")),
            format!(
                "id={id}\ndom={domain}\nuser={user}\nuid={uid}\ngid={uid}\nhome=/home/{domain}\n\
                 ip={SERVER_IP}\nweb=1\nssl=1\nmail=1\nmysql=1\ndb={user}\nemailto=info@{domain}\n"
            ),
        )?;
    }
    Ok(())
}

const MINISERV_CONF: &str = "port=10000
listen=10000
root=/usr/share/webmin
mimetypes=/usr/share/webmin/mime.types
addtype_cgi=internal/cgi
realm=Webmin Server
logfile=/var/webmin/miniserv.log
errorlog=/var/webmin/miniserv.error
pidfile=/var/webmin/miniserv.pid
logtime=168
ssl=1
no_ssl2=1
no_ssl3=1
no_tls1=1
no_tls1_1=1
ssl_honorcipherorder=1
env_WEBMIN_CONFIG=/etc/webmin
env_WEBMIN_VAR=/var/webmin
atboot=1
logout=/etc/webmin/logout-flag
denyfile=\\.pl$
log=1
blockhost_failures=5
blockhost_time=60
syslog=1
session=1
premodules=WebminCore
userfile=/etc/webmin/miniserv.users
keyfile=/etc/webmin/miniserv.pem
passwd_file=/etc/shadow
passwd_uindex=0
passwd_pindex=1
passwd_cindex=2
passwd_mindex=4
passwd_mode=0
preroot=authentic-theme
";
