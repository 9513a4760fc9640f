//! TLS settings from PEM files, in the shape of oslo.service's `[ssl]`
//! options, built on rustls with the *ring* provider.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedCipherSuite, SupportedProtocolVersion};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};

pub use tokio_rustls::TlsAcceptor;

/// Why the TLS settings cannot be used. Each message names the option and
/// the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    /// `cert_file` is set without `key_file`.
    #[error("`cert_file` is set but `key_file` is not; a TLS server needs both")]
    CertWithoutKey,
    /// `key_file` is set without `cert_file`.
    #[error("`key_file` is set but `cert_file` is not; a TLS server needs both")]
    KeyWithoutCert,
    /// `ca_file` is set while TLS itself is not configured.
    #[error(
        "`ca_file` is set but `cert_file` and `key_file` are not; client certificates \
         can only be required on a TLS server"
    )]
    CaWithoutCert,
    /// A configured file does not exist.
    #[error("`{option}`: file {} does not exist", path.display())]
    MissingFile {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
    },
    /// A configured file exists but cannot be read.
    #[error("`{option}`: cannot read {}: {source}", path.display())]
    Unreadable {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What the system reported.
        source: io::Error,
    },
    /// A file does not hold the PEM data its option calls for.
    #[error("`{option}`: {} is not a PEM file with {expected}{detail}", path.display())]
    NotPem {
        /// The option naming the file.
        option: &'static str,
        /// The file.
        path: PathBuf,
        /// What the file should hold, such as "a certificate".
        expected: &'static str,
        /// What the PEM reader reported, if anything, starting with `: `.
        detail: String,
    },
    /// The private key is not the one of the certificate.
    #[error(
        "`key_file` {} does not hold the private key of the certificate in `cert_file` {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// rustls refused the certificate chain or key.
    #[error(
        "`cert_file` {} with `key_file` {} cannot be used: {source}",
        cert.display(),
        key.display()
    )]
    InvalidCertOrKey {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls reported.
        source: rustls::Error,
    },
    /// The CA file's certificates cannot serve to verify clients.
    #[error("`ca_file` {}: {reason}", path.display())]
    InvalidCa {
        /// The CA file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// `version` names a protocol this server does not offer.
    #[error(
        "`version`: `{value}` is not supported; expected `tlsv1_2` (TLS 1.2 and 1.3) or \
         `tlsv1_3` (TLS 1.3 only); TLS 1.0, TLS 1.1 and SSL are not offered"
    )]
    UnsupportedVersion {
        /// The value as given.
        value: String,
    },
    /// `ciphers` names something that is not a cipher suite offered here.
    #[error(
        "`ciphers`: `{entry}` is not a cipher suite this server offers; \
         expected names from: {known}"
    )]
    UnknownCipher {
        /// The entry as given.
        entry: String,
        /// The suites that can be named.
        known: String,
    },
    /// rustls refused the combination of versions and suites.
    #[error("`version` and `ciphers` cannot be combined: {source}")]
    Incompatible {
        /// What rustls reported.
        source: rustls::Error,
    },
}

impl TlsConfigError {
    /// The `[ssl]` option at fault (for a pair that must be set together,
    /// the one that is set).
    #[must_use]
    pub fn option(&self) -> &'static str {
        match self {
            TlsConfigError::CertWithoutKey | TlsConfigError::InvalidCertOrKey { .. } => "cert_file",
            TlsConfigError::KeyWithoutCert | TlsConfigError::KeyMismatch { .. } => "key_file",
            TlsConfigError::CaWithoutCert | TlsConfigError::InvalidCa { .. } => "ca_file",
            TlsConfigError::MissingFile { option, .. }
            | TlsConfigError::Unreadable { option, .. }
            | TlsConfigError::NotPem { option, .. } => option,
            TlsConfigError::UnsupportedVersion { .. } => "version",
            TlsConfigError::UnknownCipher { .. } | TlsConfigError::Incompatible { .. } => "ciphers",
        }
    }

    /// The value at fault as given: the file, the version, or the one
    /// cipher-suite entry; `None` when the problem is a missing companion
    /// option or a combination.
    #[must_use]
    pub fn value(&self) -> Option<String> {
        match self {
            TlsConfigError::CertWithoutKey
            | TlsConfigError::KeyWithoutCert
            | TlsConfigError::CaWithoutCert
            | TlsConfigError::Incompatible { .. } => None,
            TlsConfigError::MissingFile { path, .. }
            | TlsConfigError::Unreadable { path, .. }
            | TlsConfigError::NotPem { path, .. }
            | TlsConfigError::InvalidCa { path, .. } => Some(path.display().to_string()),
            TlsConfigError::KeyMismatch { key, .. } => Some(key.display().to_string()),
            TlsConfigError::InvalidCertOrKey { cert, .. } => Some(cert.display().to_string()),
            TlsConfigError::UnsupportedVersion { value } => Some(value.clone()),
            TlsConfigError::UnknownCipher { entry, .. } => Some(entry.clone()),
        }
    }

    /// What is wrong, without the option's name and value: the message of
    /// a configuration error about [`option`](Self::option).
    #[must_use]
    pub fn problem(&self) -> String {
        match self {
            TlsConfigError::CertWithoutKey => {
                "set without `key_file`; a TLS server needs both".to_string()
            }
            TlsConfigError::KeyWithoutCert => {
                "set without `cert_file`; a TLS server needs both".to_string()
            }
            TlsConfigError::CaWithoutCert => "set without `cert_file` and `key_file`; client \
                 certificates can only be required on a TLS server"
                .to_string(),
            TlsConfigError::MissingFile { .. } => "the file does not exist".to_string(),
            TlsConfigError::Unreadable { source, .. } => format!("cannot read the file: {source}"),
            TlsConfigError::NotPem {
                expected, detail, ..
            } => format!("not a PEM file with {expected}{detail}"),
            TlsConfigError::KeyMismatch { cert, .. } => format!(
                "not the private key of the certificate in `cert_file` {}",
                cert.display()
            ),
            TlsConfigError::InvalidCertOrKey { key, source, .. } => {
                format!("cannot be used with `key_file` {}: {source}", key.display())
            }
            TlsConfigError::InvalidCa { reason, .. } => reason.clone(),
            TlsConfigError::UnsupportedVersion { .. } => "expected one of `tlsv1_2` (TLS 1.2 \
                 and 1.3), `tlsv1_3` (TLS 1.3 only); TLS 1.0, TLS 1.1 and SSL are not offered"
                .to_string(),
            TlsConfigError::UnknownCipher { known, .. } => {
                format!("not a cipher suite this server offers; expected one of: {known}")
            }
            TlsConfigError::Incompatible { source } => {
                format!("cannot be combined with `version`: {source}")
            }
        }
    }
}

/// Cipher suites offered by the *ring* provider, with the names OpenSSL
/// gives them.
const OPENSSL_NAMES: &[(&str, &str)] = &[
    ("TLS13_AES_256_GCM_SHA384", "TLS_AES_256_GCM_SHA384"),
    ("TLS13_AES_128_GCM_SHA256", "TLS_AES_128_GCM_SHA256"),
    (
        "TLS13_CHACHA20_POLY1305_SHA256",
        "TLS_CHACHA20_POLY1305_SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-ECDSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-ECDSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-ECDSA-CHACHA20-POLY1305",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384",
        "ECDHE-RSA-AES256-GCM-SHA384",
    ),
    (
        "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
        "ECDHE-RSA-AES128-GCM-SHA256",
    ),
    (
        "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256",
        "ECDHE-RSA-CHACHA20-POLY1305",
    ),
];

/// Builds the TLS acceptor of a server from PEM files, or `None` when
/// neither `cert_file` nor `key_file` is set (plain HTTP).
///
/// * `cert_file`: the server's certificate chain, leaf first.
/// * `key_file`: its private key (PKCS#8, PKCS#1 or SEC1).
/// * `ca_file`: when set, clients must present a certificate issued by one
///   of these CAs, and connections without one are refused.
/// * `min_version`: the lowest protocol accepted, `tlsv1_2` (the default;
///   `sslv23` means the same) or `tlsv1_3`; case and `_`/`.` do not matter.
/// * `ciphers`: a `:`-separated list of cipher suite names, in IANA
///   (`TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`), rustls
///   (`TLS13_AES_128_GCM_SHA256`) or OpenSSL (`ECDHE-RSA-AES128-GCM-SHA256`)
///   spelling. When it names no TLS 1.3 suite, every TLS 1.3 suite stays
///   enabled, as in OpenSSL, where the cipher list only governs TLS 1.2.
///
/// The server offers HTTP/2 and HTTP/1.1 through ALPN.
///
/// # Errors
///
/// Returns a [`TlsConfigError`] naming the option and file at fault: a file
/// missing, unreadable or without the expected PEM blocks, `cert_file`
/// without `key_file` (or the reverse), a key that does not match the
/// certificate, an unsupported version or an unknown cipher suite. When
/// several are wrong, the first of [`tls_acceptor_checking_all`]'s list.
pub fn tls_acceptor_from_files(
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
    ca_file: Option<&Path>,
    min_version: Option<&str>,
    ciphers: Option<&str>,
) -> Result<Option<TlsAcceptor>, TlsConfigError> {
    tls_acceptor_checking_all(cert_file, key_file, ca_file, min_version, ciphers).map_err(
        |errors| {
            errors
                .into_iter()
                .next()
                .expect("an error list is never empty")
        },
    )
}

/// [`tls_acceptor_from_files`], reporting every problem instead of the
/// first: the pairing of the options, the version, each unknown cipher
/// suite, and each file on its own. Whether the key matches the
/// certificate is checked only when both files load.
///
/// # Errors
///
/// Every [`TlsConfigError`] found, at least one: the pairing first, then
/// `version`, `ciphers`, `cert_file`, `key_file`, `ca_file` and the match
/// of the key with the certificate.
pub fn tls_acceptor_checking_all(
    cert_file: Option<&Path>,
    key_file: Option<&Path>,
    ca_file: Option<&Path>,
    min_version: Option<&str>,
    ciphers: Option<&str>,
) -> Result<Option<TlsAcceptor>, Vec<TlsConfigError>> {
    let mut errors = Vec::new();
    match (cert_file, key_file) {
        (Some(_), None) => errors.push(TlsConfigError::CertWithoutKey),
        (None, Some(_)) => errors.push(TlsConfigError::KeyWithoutCert),
        (None, None) if ca_file.is_some() => errors.push(TlsConfigError::CaWithoutCert),
        (None, None) => return Ok(None),
        (Some(_), Some(_)) => {}
    }

    let versions = keep(protocol_versions(min_version), &mut errors);
    let provider = match provider_with_ciphers(ciphers) {
        Ok(provider) => Some(Arc::new(provider)),
        Err(found) => {
            errors.extend(found);
            None
        }
    };
    let certs = cert_file.and_then(|path| keep(read_certificates("cert_file", path), &mut errors));
    let key = key_file.and_then(|path| keep(read_private_key(path), &mut errors));
    let verifier_provider = provider
        .clone()
        .unwrap_or_else(|| Arc::new(rustls::crypto::ring::default_provider()));
    let verifier =
        ca_file.and_then(|path| keep(client_verifier(path, verifier_provider), &mut errors));
    let ca_failed = ca_file.is_some() && verifier.is_none();

    let (Some(cert_file), Some(key_file)) = (cert_file, key_file) else {
        return Err(errors);
    };
    let (Some(versions), Some(provider), Some(certs), Some(key), false) =
        (versions, provider, certs, key, ca_failed)
    else {
        return Err(errors);
    };
    let builder = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|source| vec![TlsConfigError::Incompatible { source }])?;
    let builder = match verifier {
        Some(verifier) => builder.with_client_cert_verifier(verifier),
        None => builder.with_no_client_auth(),
    };
    let mut config = builder
        .with_single_cert(certs, key)
        .map_err(|source| vec![cert_error(cert_file, key_file, source)])?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];

    Ok(Some(TlsAcceptor::from(Arc::new(config))))
}

/// The value of `result`, or `None` with its error added to `errors`.
fn keep<T>(result: Result<T, TlsConfigError>, errors: &mut Vec<TlsConfigError>) -> Option<T> {
    result.map_err(|error| errors.push(error)).ok()
}

/// The protocol versions from `min_version` upward.
fn protocol_versions(
    min_version: Option<&str>,
) -> Result<&'static [&'static SupportedProtocolVersion], TlsConfigError> {
    static FROM_TLS12: &[&SupportedProtocolVersion] =
        &[&rustls::version::TLS12, &rustls::version::TLS13];
    static ONLY_TLS13: &[&SupportedProtocolVersion] = &[&rustls::version::TLS13];

    let Some(value) = min_version else {
        return Ok(FROM_TLS12);
    };
    let normal: String = value
        .trim()
        .to_ascii_lowercase()
        .chars()
        .filter(|c| !matches!(c, '_' | '.' | 'v'))
        .collect();
    match normal.as_str() {
        "tls12" | "12" | "ssl23" | "tls" => Ok(FROM_TLS12),
        "tls13" | "13" => Ok(ONLY_TLS13),
        _ => Err(TlsConfigError::UnsupportedVersion {
            value: value.to_owned(),
        }),
    }
}

/// The *ring* provider, limited to the named cipher suites when given.
fn provider_with_ciphers(ciphers: Option<&str>) -> Result<CryptoProvider, Vec<TlsConfigError>> {
    let mut provider = rustls::crypto::ring::default_provider();
    let Some(list) = ciphers.filter(|list| !list.trim().is_empty()) else {
        return Ok(provider);
    };

    let mut chosen: Vec<SupportedCipherSuite> = Vec::new();
    let mut unknown = Vec::new();
    for entry in list
        .split([':', ',', ' '])
        .filter(|entry| !entry.is_empty())
    {
        match find_suite(&provider.cipher_suites, entry) {
            Ok(suite) if !chosen.contains(&suite) => chosen.push(suite),
            Ok(_) => {}
            Err(error) => unknown.push(error),
        }
    }
    if !unknown.is_empty() {
        return Err(unknown);
    }
    if !chosen.iter().any(|suite| suite.tls13().is_some()) {
        let tls13 = provider
            .cipher_suites
            .iter()
            .filter(|suite| suite.tls13().is_some());
        chosen.extend(tls13);
    }
    provider.cipher_suites = chosen;
    Ok(provider)
}

fn find_suite(
    available: &[SupportedCipherSuite],
    entry: &str,
) -> Result<SupportedCipherSuite, TlsConfigError> {
    let wanted = entry.to_ascii_uppercase();
    let found = available.iter().find(|suite| {
        let rustls_name = suite.suite().as_str().unwrap_or_default();
        suite_names(rustls_name).contains(&wanted)
    });
    found.copied().ok_or_else(|| TlsConfigError::UnknownCipher {
        entry: entry.to_owned(),
        known: OPENSSL_NAMES
            .iter()
            .map(|(_, openssl)| *openssl)
            .collect::<Vec<_>>()
            .join(", "),
    })
}

/// Every accepted spelling of a suite: rustls, IANA and OpenSSL.
fn suite_names(rustls_name: &str) -> Vec<String> {
    let mut names = vec![rustls_name.to_owned()];
    if let Some(iana) = rustls_name.strip_prefix("TLS13_") {
        names.push(format!("TLS_{iana}"));
    }
    if let Some((_, openssl)) = OPENSSL_NAMES.iter().find(|(name, _)| *name == rustls_name) {
        names.push((*openssl).to_owned());
    }
    names
}

fn read_file(option: &'static str, path: &Path) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|source| match source.kind() {
        io::ErrorKind::NotFound => TlsConfigError::MissingFile {
            option,
            path: path.to_owned(),
        },
        _ => TlsConfigError::Unreadable {
            option,
            path: path.to_owned(),
            source,
        },
    })
}

fn read_certificates(
    option: &'static str,
    path: &Path,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = read_file(option, path)?;
    let not_pem = |detail: String| TlsConfigError::NotPem {
        option,
        path: path.to_owned(),
        expected: "at least one CERTIFICATE block",
        detail,
    };

    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| not_pem(format!(": {error}")))?;
    if certs.is_empty() {
        return Err(not_pem(String::new()));
    }
    Ok(certs)
}

fn read_private_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let bytes = read_file("key_file", path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|error| {
        let detail = match error {
            rustls_pki_types::pem::Error::NoItemsFound => String::new(),
            other => format!(": {other}"),
        };
        TlsConfigError::NotPem {
            option: "key_file",
            path: path.to_owned(),
            expected: "a PRIVATE KEY, RSA PRIVATE KEY or EC PRIVATE KEY block",
            detail,
        }
    })
}

fn client_verifier(
    ca_file: &Path,
    provider: Arc<CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, TlsConfigError> {
    let invalid = |reason: String| TlsConfigError::InvalidCa {
        path: ca_file.to_owned(),
        reason,
    };

    let mut roots = RootCertStore::empty();
    for cert in read_certificates("ca_file", ca_file)? {
        roots
            .add(cert)
            .map_err(|error| invalid(format!("a certificate cannot be used as a CA: {error}")))?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|error| invalid(format!("cannot verify clients with it: {error}")))
}

fn cert_error(cert: &Path, key: &Path, source: rustls::Error) -> TlsConfigError {
    match source {
        rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
            TlsConfigError::KeyMismatch {
                cert: cert.to_owned(),
                key: key.to_owned(),
            }
        }
        source => TlsConfigError::InvalidCertOrKey {
            cert: cert.to_owned(),
            key: key.to_owned(),
            source,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_accept_oslo_and_dotted_spellings() {
        assert_eq!(protocol_versions(None).unwrap().len(), 2);
        assert_eq!(protocol_versions(Some("TLSv1_2")).unwrap().len(), 2);
        assert_eq!(protocol_versions(Some("sslv23")).unwrap().len(), 2);
        assert_eq!(protocol_versions(Some("tlsv1.3")).unwrap().len(), 1);

        let error = protocol_versions(Some("tlsv1_1")).unwrap_err().to_string();
        assert!(
            error.contains("`version`: `tlsv1_1` is not supported"),
            "{error}"
        );
    }

    #[test]
    fn ciphers_accept_every_spelling_and_keep_tls13() {
        let provider = provider_with_ciphers(Some(
            "ECDHE-RSA-AES128-GCM-SHA256:tls_ecdhe_rsa_with_aes_256_gcm_sha384",
        ))
        .unwrap();
        let names: Vec<_> = provider
            .cipher_suites
            .iter()
            .map(|suite| suite.suite().as_str().unwrap())
            .collect();
        assert_eq!(
            &names[..2],
            [
                "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384"
            ]
        );
        assert_eq!(names.len(), 5, "the three TLS 1.3 suites stay: {names:?}");

        let only13 = provider_with_ciphers(Some("TLS_AES_128_GCM_SHA256")).unwrap();
        assert_eq!(only13.cipher_suites.len(), 1);
    }

    #[test]
    fn openssl_keywords_are_refused_by_name() {
        let errors = provider_with_ciphers(Some("HIGH:!aNULL")).unwrap_err();
        let error = errors[0].to_string();
        assert!(
            error.starts_with("`ciphers`: `HIGH` is not a cipher suite"),
            "{error}"
        );
        assert!(error.contains("ECDHE-RSA-AES128-GCM-SHA256"), "{error}");
        let values: Vec<_> = errors.iter().map(TlsConfigError::value).collect();
        assert_eq!(values, [Some("HIGH".into()), Some("!aNULL".into())]);
    }

    #[test]
    fn every_problem_is_reported_each_file_on_its_own() {
        let dir = std::env::temp_dir().join(format!("tls-all-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = dir.join("key.txt");
        std::fs::write(&text, "not a key\n").unwrap();
        let cert = Path::new("/nonexistent/cert.pem");
        let errors = tls_acceptor_checking_all(
            Some(cert),
            Some(&text),
            Some(Path::new("/nonexistent/ca.pem")),
            Some("tlsv1"),
            Some("NOSUCH"),
        );
        let Err(errors) = errors else {
            panic!("the settings are accepted")
        };
        std::fs::remove_dir_all(&dir).unwrap();
        let options: Vec<_> = errors.iter().map(TlsConfigError::option).collect();
        assert_eq!(
            options,
            ["version", "ciphers", "cert_file", "key_file", "ca_file"]
        );
        assert!(matches!(errors[2], TlsConfigError::MissingFile { .. }));
        assert!(matches!(errors[3], TlsConfigError::NotPem { .. }));
    }

    #[test]
    fn a_lone_file_is_still_read() {
        let cert = Some(Path::new("/nonexistent/cert.pem"));
        let Err(errors) = tls_acceptor_checking_all(cert, None, None, None, None) else {
            panic!("a lone cert_file is accepted")
        };
        assert!(matches!(errors[0], TlsConfigError::CertWithoutKey));
        assert!(matches!(
            errors[1],
            TlsConfigError::MissingFile {
                option: "cert_file",
                ..
            }
        ));
        assert_eq!(errors.len(), 2);
    }

    #[test]
    fn file_pairs_are_checked_first() {
        let cert = Some(Path::new("/nonexistent/cert.pem"));
        let result = tls_acceptor_from_files(cert, None, None, None, None);
        assert!(matches!(result, Err(TlsConfigError::CertWithoutKey)));

        let ca = Some(Path::new("/nonexistent/ca.pem"));
        let result = tls_acceptor_from_files(None, None, ca, None, None);
        assert!(matches!(result, Err(TlsConfigError::CaWithoutCert)));

        let result = tls_acceptor_from_files(None, None, None, None, None);
        assert!(matches!(result, Ok(None)));
    }
}
