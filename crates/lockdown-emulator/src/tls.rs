//! HTTPS for the emulator: a throwaway certificate authority and a `127.0.0.1` server
//! certificate, made at start-up. Tests trust the authority through `SSL_CERT_FILE`, as a user
//! behind a TLS-inspecting proxy would, so lockdown and azure_identity (which insists on an
//! HTTPS authority) run unchanged against `https://127.0.0.1:PORT`.

use std::io;
use std::sync::Arc;

use openssl::asn1::Asn1Time;
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName,
};
use openssl::x509::{X509Name, X509};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::TlsAcceptor;

pub(crate) struct Material {
    pub acceptor: TlsAcceptor,
    /// The authority to trust, PEM.
    pub ca_pem: String,
}

fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(format!("emulator TLS: {e}"))
}

fn key() -> Result<PKey<Private>, openssl::error::ErrorStack> {
    let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
    PKey::from_ec_key(EcKey::generate(&group)?)
}

fn name(cn: &str) -> Result<X509Name, openssl::error::ErrorStack> {
    let mut n = X509Name::builder()?;
    n.append_entry_by_text("CN", cn)?;
    Ok(n.build())
}

fn serial() -> Result<openssl::asn1::Asn1Integer, openssl::error::ErrorStack> {
    let mut bn = BigNum::new()?;
    bn.rand(127, MsbOption::MAYBE_ZERO, false)?;
    bn.to_asn1_integer()
}

fn build() -> Result<(X509, X509, PKey<Private>), openssl::error::ErrorStack> {
    let ca_key = key()?;
    let ca_name = name("lockdown emulator CA")?;
    let not_before = Asn1Time::days_from_now(0)?;
    let not_after = Asn1Time::days_from_now(2)?;
    let (ca_serial, leaf_serial) = (serial()?, serial()?);
    let leaf_name = name("127.0.0.1")?;
    let mut ca = X509::builder()?;
    ca.set_version(2)?;
    ca.set_serial_number(&ca_serial)?;
    ca.set_subject_name(&ca_name)?;
    ca.set_issuer_name(&ca_name)?;
    ca.set_pubkey(&ca_key)?;
    ca.set_not_before(&not_before)?;
    ca.set_not_after(&not_after)?;
    ca.append_extension(BasicConstraints::new().critical().ca().build()?)?;
    ca.append_extension(
        KeyUsage::new()
            .critical()
            .key_cert_sign()
            .crl_sign()
            .build()?,
    )?;
    ca.sign(&ca_key, MessageDigest::sha256())?;
    let ca = ca.build();

    let leaf_key = key()?;
    let mut leaf = X509::builder()?;
    leaf.set_version(2)?;
    leaf.set_serial_number(&leaf_serial)?;
    leaf.set_subject_name(&leaf_name)?;
    leaf.set_issuer_name(ca.subject_name())?;
    leaf.set_pubkey(&leaf_key)?;
    leaf.set_not_before(&not_before)?;
    leaf.set_not_after(&not_after)?;
    leaf.append_extension(BasicConstraints::new().build()?)?;
    leaf.append_extension(KeyUsage::new().critical().digital_signature().build()?)?;
    leaf.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    let san = SubjectAlternativeName::new()
        .ip("127.0.0.1")
        .dns("localhost")
        .build(&leaf.x509v3_context(Some(&ca), None))?;
    leaf.append_extension(san)?;
    leaf.sign(&ca_key, MessageDigest::sha256())?;
    Ok((ca, leaf.build(), leaf_key))
}

pub(crate) fn generate() -> io::Result<Material> {
    let (ca, leaf, leaf_key) = build().map_err(err)?;
    let chain = vec![
        CertificateDer::from(leaf.to_der().map_err(err)?),
        CertificateDer::from(ca.to_der().map_err(err)?),
    ];
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
        leaf_key.private_key_to_pkcs8().map_err(err)?,
    ));
    let mut config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(chain, key)
        .map_err(err)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Material {
        acceptor: TlsAcceptor::from(Arc::new(config)),
        ca_pem: String::from_utf8(ca.to_pem().map_err(err)?).map_err(err)?,
    })
}
