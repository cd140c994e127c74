//! Certificates for the TLS tests, made with rcgen: a CA, a server certificate for
//! `localhost` / 127.0.0.1, a client certificate, and a second CA that signed nothing the
//! server uses (for "wrong CA" tests).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

#[derive(Debug)]
pub struct Certs {
    pub dir: PathBuf,
}

impl Certs {
    pub fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }
}

fn ca(name: &str) -> (CertificateParams, KeyPair, String) {
    let key = KeyPair::generate().expect("key");
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.distinguished_name.push(DnType::CommonName, name);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let pem = params.self_signed(&key).expect("self-signed").pem();
    (params, key, pem)
}

fn leaf(
    issuer: &Issuer<'_, KeyPair>,
    names: &[&str],
    usage: ExtendedKeyUsagePurpose,
    dir: &Path,
    stem: &str,
) {
    let key = KeyPair::generate().expect("key");
    let mut params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
            .expect("params");
    params
        .distinguished_name
        .push(DnType::CommonName, names.first().copied().unwrap_or(stem));
    params.extended_key_usages = vec![usage];
    let cert = params.signed_by(&key, issuer).expect("sign");
    std::fs::write(dir.join(format!("{stem}.pem")), cert.pem()).expect("write cert");
    std::fs::write(dir.join(format!("{stem}.key")), key.serialize_pem()).expect("write key");
}

/// The certificates of this test process (made once).
pub fn shared() -> &'static Certs {
    static CERTS: OnceLock<Certs> = OnceLock::new();
    CERTS.get_or_init(|| {
        let dir = crate::harness_dir().join(format!("certs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("certs dir");
        let (params, key, pem) = ca("milvus-connd test CA");
        std::fs::write(dir.join("ca.pem"), pem).expect("write ca");
        let issuer = Issuer::new(params, key);
        leaf(
            &issuer,
            &["localhost", "127.0.0.1"],
            ExtendedKeyUsagePurpose::ServerAuth,
            &dir,
            "server",
        );
        leaf(
            &issuer,
            &["milvus-connd-client"],
            ExtendedKeyUsagePurpose::ClientAuth,
            &dir,
            "client",
        );
        let (_, _, other) = ca("unrelated CA");
        std::fs::write(dir.join("other-ca.pem"), other).expect("write other ca");
        Certs { dir }
    })
}
