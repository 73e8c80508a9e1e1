//! The berita acara: a ceremony transcript with its countersignatures, rendered as one
//! self-contained HTML page in Bahasa Indonesia for the archive (print it on A4, or keep the
//! file). No script, no outside resource (a Content-Security-Policy forbids both), and every
//! piece of the transcript escaped: a name or a step is text, never markup.
//!
//! The page shows what the transcript holds; it proves nothing by itself. Whoever renders it
//! first verifies the transcript (see [`crate::transcript::Transcript::verify`]) and the
//! countersignatures ([`crate::countersign::status`]); the page says how anyone can do it again.

use maud::{DOCTYPE, Markup, PreEscaped, html};
use serde_json::Value;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::countersign::{NAMESPACE, Role, SignerStatus, Standing};
use crate::transcript::{Entry, Transcript};
use crate::{Error, Result};

/// The time zone the dates and times are written in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Zone {
    /// Waktu Indonesia Barat, UTC+7.
    #[default]
    Wib,
    /// Waktu Indonesia Tengah, UTC+8.
    Wita,
    /// Waktu Indonesia Timur, UTC+9.
    Wit,
    Utc,
}

impl Zone {
    fn offset(self) -> UtcOffset {
        let hours = match self {
            Zone::Wib => 7,
            Zone::Wita => 8,
            Zone::Wit => 9,
            Zone::Utc => 0,
        };
        UtcOffset::from_hms(hours, 0, 0).unwrap_or(UtcOffset::UTC)
    }

    fn label(self) -> &'static str {
        match self {
            Zone::Wib => "WIB",
            Zone::Wita => "WITA",
            Zone::Wit => "WIT",
            Zone::Utc => "UTC",
        }
    }
}

impl std::str::FromStr for Zone {
    type Err = String;

    /// `wib`, `wita`, `wit` or `utc` (as `--zona` takes it).
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "wib" => Ok(Zone::Wib),
            "wita" => Ok(Zone::Wita),
            "wit" => Ok(Zone::Wit),
            "utc" => Ok(Zone::Utc),
            other => Err(format!("{other:?}: the zone is wib, wita, wit or utc")),
        }
    }
}

/// How the page is written.
#[derive(Clone, Debug, Default)]
pub struct Options {
    pub zone: Zone,
    /// The tool whose `ceremony verify-transcript` and `allowed-signers` the page tells the
    /// reader to run (`keymgr` when empty; `docsvc` for a node's ceremonies).
    pub tool: String,
    /// The transcript's file name, as the verification commands on the page name it.
    pub file_name: String,
    /// SHA-256 of the transcript file's exact bytes: what every countersignature signs.
    pub file_sha256: String,
}

const STYLE: &str = r"
@page { size: A4; margin: 20mm 18mm 20mm 25mm; }
body { font-family: 'Times New Roman', 'Liberation Serif', serif; font-size: 11.5pt;
       line-height: 1.4; color: #000; background: #fff; max-width: 180mm; margin: 1em auto; }
header { text-align: center; border-bottom: 3px double #000; padding-bottom: .5em; }
h1 { font-size: 15pt; margin: 0; letter-spacing: .05em; }
h2 { font-size: 12pt; margin: 1.2em 0 .4em; text-transform: uppercase; }
.sub { font-size: 12pt; font-weight: bold; margin: .2em 0; }
.nomor { margin: .2em 0; }
dl.head { display: grid; grid-template-columns: 9em 1fr; gap: .1em .6em; margin: 1em 0; }
dl.head dt { font-weight: bold; }
dl.head dd { margin: 0; }
table { width: 100%; border-collapse: collapse; margin: .4em 0; }
th, td { border: 1px solid #000; padding: .25em .4em; vertical-align: top; text-align: left; }
th { background: #eee; }
.mono, code { font-family: 'DejaVu Sans Mono', 'Liberation Mono', monospace; font-size: 8.5pt;
              word-break: break-all; }
ul.data { margin: 0; padding-left: 1em; }
.signatures { display: grid; grid-template-columns: 1fr 1fr; gap: 1em 2em; margin-top: 1em; }
.sig { border: 1px solid #000; padding: .5em; break-inside: avoid; page-break-inside: avoid; }
.sig .role { font-style: italic; }
.sig .wet { height: 18mm; }
.sig .name { font-weight: bold; text-decoration: underline; }
.ok { font-weight: bold; }
.bad { font-weight: bold; color: #b00; }
footer { margin-top: 1.5em; font-size: 9pt; border-top: 1px solid #000; padding-top: .4em; }
@media print {
  body { margin: 0; max-width: none; }
  th { background: #eee; -webkit-print-color-adjust: exact; print-color-adjust: exact; }
  tr, .sig { break-inside: avoid; page-break-inside: avoid; }
  h2 { break-after: avoid; page-break-after: avoid; }
  .bad { color: #000; }
}
";

const DAYS: [&str; 7] = [
    "Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu",
];
/// The months in Indonesian, January first (also what docsvc's letters are dated with).
pub const MONTHS: [&str; 12] = [
    "Januari",
    "Februari",
    "Maret",
    "April",
    "Mei",
    "Juni",
    "Juli",
    "Agustus",
    "September",
    "Oktober",
    "November",
    "Desember",
];

/// A number in Indonesian words (terbilang), as a berita acara writes its date: 2026 is "dua
/// ribu dua puluh enam".
pub fn terbilang(n: u32) -> String {
    const ONES: [&str; 12] = [
        "nol", "satu", "dua", "tiga", "empat", "lima", "enam", "tujuh", "delapan", "sembilan",
        "sepuluh", "sebelas",
    ];
    let join = |head: String, rest: u32| {
        if rest == 0 {
            head
        } else {
            format!("{head} {}", terbilang(rest))
        }
    };
    match n {
        0..=11 => ONES[n as usize].to_owned(),
        12..=19 => format!("{} belas", ONES[(n - 10) as usize]),
        20..=99 => join(format!("{} puluh", ONES[(n / 10) as usize]), n % 10),
        100..=199 => join("seratus".into(), n - 100),
        200..=999 => join(format!("{} ratus", ONES[(n / 100) as usize]), n % 100),
        1000..=1999 => join("seribu".into(), n - 1000),
        2000..=999_999 => join(format!("{} ribu", terbilang(n / 1000)), n % 1000),
        _ => join(format!("{} juta", terbilang(n / 1_000_000)), n % 1_000_000),
    }
}

fn parse_time(text: &str, zone: Zone) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(text, &Rfc3339)
        .ok()
        .map(|t| t.to_offset(zone.offset()))
}

/// "Senin, 30 November 2026".
fn tanggal(t: OffsetDateTime) -> String {
    format!(
        "{}, {} {} {}",
        DAYS[usize::from(t.weekday().number_days_from_monday())],
        t.day(),
        MONTHS[usize::from(u8::from(t.month())) - 1],
        t.year()
    )
}

/// "pukul 22.12 WIB".
fn pukul(t: OffsetDateTime, zone: Zone) -> String {
    format!("pukul {:02}.{:02} {}", t.hour(), t.minute(), zone.label())
}

fn ceremony_title(kind: &str) -> &str {
    match kind {
        "init" => "Inisialisasi Akar Kepercayaan (Root CA)",
        "rotate-intermediate" => "Rotasi CA Perantara",
        "revoke-intermediate" => "Pencabutan CA Perantara",
        "reshare" => "Pergantian Pemegang Kunci",
        "node-init" => "Inisialisasi Simpul (Node)",
        "node-reshare" => "Pergantian Pemegang Kunci Simpul",
        other => other,
    }
}

fn step_text(step: &str) -> &'static str {
    match step {
        "ceremony.opened" => "Upacara dibuka; naskah, peran dan parameter dicatat",
        "keystores.created" | "keystore.created" => {
            "Penyimpanan kunci dibuat; kunci induk dibagi M-dari-N"
        }
        "share.sealed" => "Bagian kunci disegel untuk pemegang kunci",
        "keystores.unsealed" | "keystore.unsealed" => "Penyimpanan kunci dibuka (unseal)",
        "root.created" => "Kunci dan sertifikat Root CA dibuat",
        "network-ca.created" => "Network CA dibuat dan disertifikasi Root CA",
        "signing-ca.created" => "Signing CA dibuat dan disertifikasi Root CA",
        "log-key.created" => "Kunci log transparansi dibuat",
        "intermediate.rotated" => "Kunci CA perantara baru dibuat dan disertifikasi",
        "intermediate.revoked" => "CA perantara dicabut; CRL Root CA ditandatangani",
        "shares.replaced" => "Bagian kunci baru menggantikan yang lama",
        "ceremony.closed" => "Upacara ditutup; transkrip ditandatangani",
        "script" => "Naskah upacara dan perangkat lunak dicatat",
        "keys.generated" => "Kunci simpul (TLS, audit, arsip) dan permintaan sertifikat dibuat",
        "keystore.sealed" => "Penyimpanan kunci disegel kembali",
        "shares.dealt" => "Bagian kunci baru dibagikan kepada pemegang kunci",
        _ => "",
    }
}

fn role_text(role: Role) -> &'static str {
    match role {
        Role::Administrator => "Administrator Upacara",
        Role::Custodian => "Pemegang Kunci",
        Role::Witness => "Saksi",
    }
}

/// "ceremony administrator: Ani" as the page says it.
fn actor_text(actor: &str) -> String {
    for (en, id) in [
        ("ceremony administrator: ", "Administrator upacara: "),
        ("key custodian: ", "Pemegang kunci: "),
        ("witness: ", "Saksi: "),
    ] {
        if let Some(name) = actor.strip_prefix(en) {
            return format!("{id}{name}");
        }
    }
    actor.to_owned()
}

/// A step's data as "key: value" lines (nested fields joined with dots). The roster of
/// countersigners is left out: the attendance table shows it.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                if prefix.is_empty() && k == "countersigners" {
                    continue;
                }
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        Value::Array(items) if items.iter().all(|i| !i.is_object() && !i.is_array()) => {
            let texts: Vec<String> = items.iter().map(scalar).collect();
            out.push((prefix.to_owned(), texts.join(", ")));
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                flatten(&format!("{prefix}[{}]", i + 1), item, out);
            }
        }
        other => out.push((prefix.to_owned(), scalar(other))),
    }
}

fn data_lines(v: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    flatten("", v, &mut out);
    out
}

fn scalar(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "—".into(),
        other => other.to_string(),
    }
}

fn opened(t: &Transcript) -> Option<&Entry> {
    t.entries.iter().find(|e| e.step == "ceremony.opened")
}

fn opened_text(t: &Transcript, field: &str) -> Option<String> {
    opened(t)?
        .data
        .get(field)
        .and_then(Value::as_str)
        .map(str::to_owned)
}

/// The berita acara of the verified transcript `t`, read (as `bytes`) from `path`: the
/// countersignatures beside it checked, the page written in `zone`, naming `tool`'s commands.
pub fn render_file(
    path: &std::path::Path,
    bytes: &[u8],
    t: &Transcript,
    zone: Zone,
    tool: &str,
) -> Result<String> {
    let statuses = crate::countersign::status(path, bytes, t)?;
    let opts = Options {
        zone,
        tool: tool.to_owned(),
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default(),
        file_sha256: crate::transcript::sha256_hex(bytes),
    };
    render(t, &statuses, &opts)
}

/// Renders the berita acara of a verified transcript and the standing of its countersigners.
pub fn render(t: &Transcript, signers: &[SignerStatus], opts: &Options) -> Result<String> {
    let first = t.entries.first().ok_or_else(|| Error::Transcript {
        entry: None,
        reason: "it has no steps".into(),
    })?;
    let start = parse_time(&first.time, opts.zone).ok_or_else(|| Error::Transcript {
        entry: Some(0),
        reason: format!("its time {:?} is not RFC 3339", first.time),
    })?;
    let end = t
        .entries
        .last()
        .and_then(|e| parse_time(&e.time, opts.zone))
        .unwrap_or(start);
    let place = opened_text(t, "place");
    let organisation = opened_text(t, "organisation");
    let title = ceremony_title(&t.ceremony);
    let page = html! {
        (DOCTYPE)
        html lang="id" {
            head {
                meta charset="utf-8";
                meta http-equiv="Content-Security-Policy"
                    content="default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'";
                meta name="referrer" content="no-referrer";
                title { "Berita Acara Upacara Kunci — " (title) " — " (t.id) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                header {
                    @if let Some(org) = &organisation { div.sub { (org) } }
                    h1 { "BERITA ACARA UPACARA KUNCI" }
                    div.sub { (title) }
                    div.nomor { "Nomor: " span.mono { (t.id) } }
                }
                dl.head {
                    dt { "Hari/Tanggal" } dd { (tanggal(start)) }
                    dt { "Waktu" } dd { (pukul(start, opts.zone)) " s.d. " (pukul(end, opts.zone)) }
                    dt { "Tempat" } dd { (place.as_deref().unwrap_or("................................................")) }
                    dt { "Jenis upacara" } dd { (title) " (" code { (t.ceremony) } ")" }
                }
                p {
                    "Pada hari ini " (DAYS[usize::from(start.weekday().number_days_from_monday())])
                    ", tanggal " (terbilang(u32::from(start.day())))
                    ", bulan " (MONTHS[usize::from(u8::from(start.month())) - 1])
                    ", tahun " (terbilang(u32::try_from(start.year()).unwrap_or(0)))
                    " (" (format!("{:02}-{:02}-{}", start.day(), u8::from(start.month()), start.year())) ")"
                    @if let Some(p) = &place { ", bertempat di " (p) }
                    ", telah dilaksanakan upacara kunci " (title)
                    " sesuai naskah yang sidik jarinya tercatat pada langkah pertama, dengan dihadiri oleh:"
                }
                (attendance(signers))
                h2 { "Jalannya upacara" }
                (steps(t, opts.zone))
                h2 { "Hasil dan keutuhan transkrip" }
                (integrity(t, opts))
                p {
                    "Demikian berita acara ini dibuat dengan sebenarnya dan ditandatangani oleh "
                    "yang hadir untuk dipergunakan sebagaimana mestinya."
                }
                h2 { "Tanda tangan" }
                (signature_blocks(signers))
                (how_to_verify(opts))
            }
        }
    };
    Ok(page.into_string())
}

fn standing_text(s: &Standing) -> Markup {
    match s {
        Standing::Countersigned(_) => {
            html! { span.ok { "Telah ditandatangani secara elektronik (SSHSIG, terverifikasi)" } }
        }
        Standing::NotYet => html! { "Belum ditandatangani secara elektronik" },
        Standing::NoKey => html! { "Tidak ada kunci SSH terdaftar" },
        Standing::Invalid(_, why) => html! { span.bad { "TIDAK SAH: " (why.to_string()) } },
    }
}

fn attendance(signers: &[SignerStatus]) -> Markup {
    html! {
        @if signers.is_empty() {
            p { em { "Transkrip ini tidak mencatat daftar penanda tangan." } }
        } @else {
            table {
                thead { tr { th { "No." } th { "Nama" } th { "Peran" } th { "Sidik jari kunci SSH" } } }
                tbody {
                    @for (i, s) in signers.iter().enumerate() {
                        tr {
                            td { (i + 1) "." }
                            td { (s.signer.name) }
                            td { (role_text(s.signer.role)) }
                            td.mono { (s.fingerprint.as_deref().unwrap_or("—")) }
                        }
                    }
                }
            }
        }
    }
}

fn steps(t: &Transcript, zone: Zone) -> Markup {
    html! {
        table {
            thead { tr { th { "No." } th { "Waktu" } th { "Langkah" } th { "Pelaksana dan saksi" } th { "Hasil" } } }
            tbody {
                @for e in &t.entries {
                    @let data = data_lines(&e.data);
                    tr {
                        td { (e.seq + 1) "." }
                        td { (parse_time(&e.time, zone).map_or_else(|| e.time.clone(), |t| format!("{:02}.{:02}.{:02}", t.hour(), t.minute(), t.second()))) }
                        td {
                            @let text = step_text(&e.step);
                            @if !text.is_empty() { (text) br; }
                            code { (e.step) }
                        }
                        td {
                            (actor_text(&e.actor))
                            @if !e.witnesses.is_empty() {
                                br; "disaksikan oleh: "
                                (e.witnesses.iter().map(|w| w.strip_prefix("witness: ").unwrap_or(w)).collect::<Vec<_>>().join("; "))
                            }
                        }
                        td {
                            @if !data.is_empty() {
                                ul.data {
                                    @for (k, v) in &data { li { (k) ": " span.mono { (v) } } }
                                }
                            }
                            div.mono { "hash: " (e.hash) }
                        }
                    }
                }
            }
        }
    }
}

fn integrity(t: &Transcript, opts: &Options) -> Markup {
    html! {
        table {
            tbody {
                tr { th { "Berkas transkrip" } td.mono { (opts.file_name) } }
                tr { th { "SHA-256 berkas transkrip (yang ditandatangani para pihak)" } td.mono { (opts.file_sha256) } }
                tr { th { "Hash langkah terakhir" } td.mono { (t.entries.last().map_or("—", |e| e.hash.as_str())) } }
                tr {
                    th { @if t.ceremony.starts_with("node-") {
                        "SHA-256 kunci audit simpul (penanda tangan transkrip)"
                    } @else {
                        "SHA-256 sertifikat penanda tangan transkrip"
                    } }
                    td.mono { (t.root_certificate_sha256) }
                }
                tr {
                    th { "Tanda tangan transkrip" }
                    td { @match &t.signature {
                        Some(s) => { "ada (" (format!("{:?}", s.algorithm)) "), terverifikasi saat halaman ini dibuat" }
                        None => { span.bad { "tidak ada" } }
                    } }
                }
            }
        }
    }
}

fn signature_blocks(signers: &[SignerStatus]) -> Markup {
    html! {
        div.signatures {
            @for s in signers {
                div.sig {
                    div.role { (role_text(s.signer.role)) }
                    div.wet {}
                    div.name { (s.signer.name) }
                    div.mono { "Kunci: " (s.fingerprint.as_deref().unwrap_or("—")) }
                    div { (standing_text(&s.standing)) }
                }
            }
        }
    }
}

fn how_to_verify(opts: &Options) -> Markup {
    let tool = if opts.tool.is_empty() {
        "keymgr"
    } else {
        opts.tool.as_str()
    };
    html! {
        footer {
            p {
                "Halaman ini menampilkan isi transkrip; buktinya adalah berkas transkrip dan tanda "
                "tangannya. Verifikasi ulang: "
                code { (tool) " ceremony verify-transcript " (opts.file_name) }
                ", atau tanpa sandi: "
                code { (tool) " ceremony allowed-signers " (opts.file_name) " > allowed_signers" }
                " lalu "
                code { "ssh-keygen -Y verify -f allowed_signers -I ID -n " (NAMESPACE) " -s TANDA-TANGAN.sig < " (opts.file_name) }
                "."
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::terbilang;

    #[test]
    fn numbers_in_indonesian_words() {
        for (n, words) in [
            (1, "satu"),
            (10, "sepuluh"),
            (11, "sebelas"),
            (12, "dua belas"),
            (19, "sembilan belas"),
            (20, "dua puluh"),
            (30, "tiga puluh"),
            (31, "tiga puluh satu"),
            (100, "seratus"),
            (111, "seratus sebelas"),
            (250, "dua ratus lima puluh"),
            (1000, "seribu"),
            (1945, "seribu sembilan ratus empat puluh lima"),
            (2026, "dua ribu dua puluh enam"),
            (2100, "dua ribu seratus"),
            (11_000, "sebelas ribu"),
            (1_000_000, "satu juta"),
        ] {
            assert_eq!(terbilang(n), words, "{n}");
        }
    }
}
