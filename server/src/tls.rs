//! TLS for the mail listeners: the configured certificate chain and key (PEM files) made into
//! one rustls acceptor (ring, the binary's one crypto provider), shared by STARTTLS and the
//! implicit-TLS ports.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::Fatal;
use crate::config::Config;

/// The acceptor, when `tls.cert` and `tls.key` are set.
pub fn acceptor(cfg: &Config) -> Result<Option<TlsAcceptor>, Fatal> {
    Ok(server_config(cfg)?.map(|c| TlsAcceptor::from(Arc::new(c))))
}

/// The acceptor of the HTTPS listener: the same certificate, offering HTTP/1.1 by ALPN.
pub fn https_acceptor(cfg: &Config) -> Result<Option<TlsAcceptor>, Fatal> {
    Ok(server_config(cfg)?.map(|mut c| {
        c.alpn_protocols = vec![b"http/1.1".to_vec()];
        TlsAcceptor::from(Arc::new(c))
    }))
}

fn server_config(cfg: &Config) -> Result<Option<rustls::ServerConfig>, Fatal> {
    if cfg.tls.cert.is_empty() && cfg.tls.key.is_empty() {
        return Ok(None);
    }
    if cfg.tls.cert.is_empty() || cfg.tls.key.is_empty() {
        return Err(Fatal("tls.cert and tls.key: give both, or neither".into()));
    }
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cfg.tls.cert)
        .map_err(|e| Fatal(format!("tls.cert: cannot read {}: {e}", cfg.tls.cert)))?
        .collect::<Result<_, _>>()
        .map_err(|e| Fatal(format!("tls.cert: {}: {e}", cfg.tls.cert)))?;
    if certs.is_empty() {
        return Err(Fatal(format!("tls.cert: no certificate in {}", cfg.tls.cert)));
    }
    let key = PrivateKeyDer::from_pem_file(&cfg.tls.key)
        .map_err(|e| Fatal(format!("tls.key: cannot read a private key from {}: {e}", cfg.tls.key)))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Fatal(format!("TLS: {e}")))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| Fatal(format!("tls.cert/tls.key: {e}")))?;
    Ok(Some(config))
}
