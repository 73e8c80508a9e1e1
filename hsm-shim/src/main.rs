//! `hsm-shim demo`: a keystore sealed under five custodians, unsealed by three, signing a
//! message that openssl then verifies from the exported public key.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};
use hsm_shim::{CustodianShare, KeyKind, KeyStore, Quorum, SoftwareKeyStore, spki_pem};

#[derive(Parser)]
#[command(
    name = "hsm-shim",
    version,
    about = "sandi's key store: keys that never leave, sealed by the custodians"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Create a keystore (5 custodians, threshold 3), seal it, unseal it with three shares,
    /// sign, and verify the signature with openssl.
    Demo {
        /// Where to create the keystore (a fresh temporary directory if omitted).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Number of key custodians.
        #[arg(long, default_value_t = 5)]
        custodians: u8,
        /// Shares needed to unseal.
        #[arg(long, default_value_t = 3)]
        threshold: u8,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Cmd::Demo {
            dir,
            custodians,
            threshold,
        } => demo(
            dir,
            Quorum {
                threshold,
                custodians,
            },
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut f = opts
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(bytes)
        .with_context(|| format!("writing {}", path.display()))?;
    Ok(())
}

fn demo(dir: Option<PathBuf>, quorum: Quorum) -> anyhow::Result<()> {
    let _tmp;
    let kept = dir.is_some();
    let dir = if let Some(d) = dir {
        d
    } else {
        let t = tempfile::tempdir().context("creating a temporary directory")?;
        let d = t.path().to_path_buf();
        _tmp = t;
        d
    };
    let keystore = dir.join("keystore");
    let shares_dir = dir.join("shares");
    std::fs::create_dir_all(&shares_dir).context("creating the shares directory")?;

    println!(
        "1. Creating a keystore in {} for {} custodians, threshold {}",
        keystore.display(),
        quorum.custodians,
        quorum.threshold
    );
    let (store, shares) = SoftwareKeyStore::create(&keystore, quorum)?;
    for share in &shares {
        let path = shares_dir.join(format!("custodian-{}.share", share.index()));
        write_private(&path, share.to_text().as_bytes())?;
        println!(
            "   share for custodian {} written to {}",
            share.index(),
            path.display()
        );
    }
    drop(shares);
    drop(store);

    println!("2. Reopening: the keystore starts sealed");
    let store = SoftwareKeyStore::open(&keystore)?;
    match store.generate(KeyKind::EcdsaP256, "demo") {
        Err(e) => println!("   refused as expected: {e}"),
        Ok(_) => bail!("a sealed keystore generated a key"),
    }

    println!("3. Custodians give their shares one at a time");
    let mut picked: Vec<u8> = (1..=quorum.custodians).step_by(2).collect();
    picked.extend((2..=quorum.custodians).step_by(2));
    for index in picked.into_iter().take(usize::from(quorum.threshold)) {
        let path = shares_dir.join(format!("custodian-{index}.share"));
        let text = zeroize::Zeroizing::new(
            std::fs::read_to_string(&path)
                .with_context(|| format!("reading {}", path.display()))?,
        );
        let progress = store.submit_share(CustodianShare::parse(&text)?)?;
        if progress.unsealed {
            println!("   custodian {index}: accepted; the keystore is unsealed");
        } else {
            println!(
                "   custodian {index}: accepted; {} more needed",
                progress.remaining()
            );
        }
    }

    println!("4. Generating keys inside the keystore and signing");
    sign_and_verify(&store, &dir)?;
    println!("5. Sealing again: the keys are wiped from memory");
    store.seal();
    if kept {
        println!(
            "Done. Keystore, shares, keys and signatures are in {}",
            dir.display()
        );
    } else {
        println!("Done. (The temporary directory is removed now; pass --dir DIR to keep it.)");
    }
    Ok(())
}

fn render(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Signs a message with an ECDSA P-256 and an Ed25519 key and has openssl verify both.
fn sign_and_verify(store: &SoftwareKeyStore, dir: &Path) -> anyhow::Result<()> {
    let message = b"Nota dinas RAHASIA 005/001/Diskominfostandi: uji tanda tangan";
    let msg_path = dir.join("message.txt");
    std::fs::write(&msg_path, message).context("writing the message")?;
    let mut all_ok = true;
    for (kind, openssl_args) in [
        (KeyKind::EcdsaP256, &["dgst", "-sha256", "-verify"][..]),
        (
            KeyKind::Ed25519,
            &["pkeyutl", "-verify", "-rawin", "-pubin", "-inkey"][..],
        ),
    ] {
        let key = store.generate(kind, &format!("demo-{kind}"))?;
        let sig = store.sign(&key, message)?;
        let pem = dir.join(format!("{kind}.pub.pem"));
        let sig_path = dir.join(format!("{kind}.sig"));
        std::fs::write(&pem, spki_pem(&store.public_key(&key)?))
            .context("writing the public key")?;
        std::fs::write(&sig_path, &sig.bytes).context("writing the signature")?;
        let mut cmd = Command::new("openssl");
        cmd.args(openssl_args).arg(&pem);
        if kind == KeyKind::Ed25519 {
            cmd.arg("-in").arg(&msg_path).arg("-sigfile").arg(&sig_path);
        } else {
            cmd.arg("-signature").arg(&sig_path).arg(&msg_path);
        }
        println!(
            "   {kind} key {} signed; checking with: {}",
            key.id(),
            render(&cmd)
        );
        let out = cmd
            .output()
            .context("running openssl (install the openssl package)")?;
        let said = String::from_utf8_lossy(&out.stdout);
        println!("   openssl: {}", said.trim());
        all_ok &= out.status.success();
    }
    if !all_ok {
        bail!("openssl did not verify a signature");
    }
    Ok(())
}
