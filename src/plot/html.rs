//! Self-contained HTML pages (the run report, the index of a `cam` folder): sections of text, tables and
//! figures by relative path, and a gallery of explained samples that filters by class and by right/wrong
//! and sorts by confidence with a few lines of inline script. Nothing is fetched from the network.

use std::borrow::Borrow;
use std::fmt::Write;
use std::io;

/// Text made safe for HTML content and attribute values.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A relative path for `href`/`src`: each segment percent-encoded where a browser would misread it.
pub fn url(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
    out
}

/// A table with a header row (none when every heading is empty); cells are escaped.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut s = String::from("<table>");
    if header.iter().any(|h| !h.is_empty()) {
        s.push_str("<tr>");
        for h in header {
            let _ = write!(s, "<th>{}</th>", escape(h));
        }
        s.push_str("</tr>\n");
    }
    for r in rows {
        s.push_str("<tr>");
        for c in r {
            let _ = write!(s, "<td>{}</td>", escape(c));
        }
        s.push_str("</tr>\n");
    }
    s.push_str("</table>\n");
    s
}

/// A figure by relative path, linked to itself, with a caption.
pub fn figure(src: &str, caption: &str) -> String {
    format!(
        "<figure class=\"fig\"><a href=\"{0}\"><img src=\"{0}\" alt=\"{1}\"></a><figcaption>{1}</figcaption></figure>\n",
        url(src),
        escape(caption)
    )
}

/// One explained sample in a gallery.
pub struct Card {
    pub title: String,
    /// The picture shown (relative path).
    pub image: String,
    /// The class explained (the prediction) and, when known, the true class.
    pub predicted: String,
    pub truth: Option<String>,
    pub probability: f64,
    /// Further files of this sample: (label, relative path).
    pub links: Vec<(String, String)>,
}

/// A gallery with class and right/wrong filters and a sort by confidence.
pub fn gallery(cards: &[Card], classes: &[String]) -> String {
    let mut out = Vec::new();
    write_gallery(&mut out, cards.iter(), classes).expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the gallery is UTF-8")
}

/// [`gallery`] written card by card to `s`: a gallery of any length needs the memory of one card.
pub fn write_gallery<W: io::Write>(
    s: &mut W,
    cards: impl Iterator<Item = impl Borrow<Card>>,
    classes: &[String],
) -> io::Result<()> {
    s.write_all(
        b"<div class=\"controls\">class <select id=\"f-class\"><option value=\"\">all</option>",
    )?;
    for c in classes {
        write!(s, "<option value=\"{0}\">{0}</option>", escape(c))?;
    }
    s.write_all(
        "</select> prediction <select id=\"f-right\"><option value=\"\">all</option>\
         <option value=\"right\">right</option><option value=\"wrong\">wrong</option></select> \
         sort <select id=\"f-sort\"><option value=\"\">as listed</option><option value=\"asc\">least confident \
         first</option><option value=\"desc\">most confident first</option></select> \
         <span id=\"f-count\"></span></div>\n<div class=\"gallery\" id=\"gallery\">\n"
            .as_bytes(),
    )?;
    for (i, c) in cards.enumerate() {
        let c = c.borrow();
        let verdict = match &c.truth {
            Some(t) if *t == c.predicted => "right",
            Some(_) => "wrong",
            None => "",
        };
        let class = c.truth.as_deref().unwrap_or(&c.predicted);
        write!(
            s,
            "<div class=\"card {verdict}\" data-class=\"{}\" data-right=\"{verdict}\" data-p=\"{}\" data-i=\"{i}\">\
             <a href=\"{2}\"><img src=\"{2}\" alt=\"{3}\"></a><div class=\"cap\"><b>{3}</b><br>",
            escape(class),
            c.probability,
            url(&c.image),
            escape(&c.title),
        )?;
        match &c.truth {
            Some(t) => {
                write!(
                    s,
                    "true {} · predicted {} ({:.1}%){}",
                    escape(t),
                    escape(&c.predicted),
                    100.0 * c.probability,
                    if verdict == "wrong" { " ✗" } else { " ✓" }
                )?;
            }
            None => {
                write!(
                    s,
                    "{} ({:.1}%)",
                    escape(&c.predicted),
                    100.0 * c.probability
                )?;
            }
        }
        s.write_all(b"<br>")?;
        let links: Vec<String> = c
            .links
            .iter()
            .map(|(label, href)| format!("<a href=\"{}\">{}</a>", url(href), escape(label)))
            .collect();
        s.write_all(links.join(" · ").as_bytes())?;
        s.write_all(b"</div></div>\n")?;
    }
    s.write_all(b"</div>\n")?;
    s.write_all(GALLERY_SCRIPT.as_bytes())
}

const GALLERY_SCRIPT: &str = r#"<script>
(function () {
  var g = document.getElementById('gallery');
  var cards = Array.prototype.slice.call(g.children);
  var fc = document.getElementById('f-class'), fr = document.getElementById('f-right');
  var fs = document.getElementById('f-sort'), count = document.getElementById('f-count');
  function update() {
    var shown = 0;
    var order = cards.slice();
    if (fs.value) {
      order.sort(function (a, b) {
        var d = parseFloat(a.dataset.p) - parseFloat(b.dataset.p);
        return fs.value === 'asc' ? d : -d;
      });
    } else {
      order.sort(function (a, b) { return a.dataset.i - b.dataset.i; });
    }
    order.forEach(function (c) {
      var ok = (!fc.value || c.dataset.class === fc.value) && (!fr.value || c.dataset.right === fr.value);
      c.style.display = ok ? '' : 'none';
      if (ok) shown++;
      g.appendChild(c);
    });
    count.textContent = shown + ' of ' + cards.length + ' shown';
  }
  [fc, fr, fs].forEach(function (e) { e.addEventListener('change', update); });
  update();
})();
</script>
"#;

/// A whole page: title, a table of contents of the sections, and the sections (heading, HTML body).
pub fn page(title: &str, sections: &[(String, String)]) -> String {
    let headings: Vec<&str> = sections.iter().map(|(h, _)| h.as_str()).collect();
    let mut out = Vec::new();
    write_page(&mut out, title, &headings, |i, w| {
        io::Write::write_all(w, sections[i].1.as_bytes())
    })
    .expect("writing to memory cannot fail");
    String::from_utf8(out).expect("the page is UTF-8")
}

/// [`page`] written to `s`, each section's body written by `body(i, s)`: for bodies too large to build first.
pub fn write_page<W: io::Write>(
    s: &mut W,
    title: &str,
    headings: &[&str],
    mut body: impl FnMut(usize, &mut W) -> io::Result<()>,
) -> io::Result<()> {
    write!(
        s,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>{0}</title>\n<style>{STYLE}</style></head>\n<body>\n<h1>{0}</h1>\n<nav>",
        escape(title)
    )?;
    let toc: Vec<String> = headings
        .iter()
        .enumerate()
        .map(|(i, h)| format!("<a href=\"#s{i}\">{}</a>", escape(h)))
        .collect();
    s.write_all(toc.join(" · ").as_bytes())?;
    s.write_all(b"</nav>\n")?;
    for (i, h) in headings.iter().enumerate() {
        writeln!(s, "<section id=\"s{i}\"><h2>{}</h2>", escape(h))?;
        body(i, s)?;
        s.write_all(b"</section>\n")?;
    }
    s.write_all(b"</body></html>\n")
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;max-width:1400px}\
nav{margin-bottom:1em}nav a{margin-right:.3em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em}\
table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.25em .6em;text-align:left}\
th{background:#f3f3f3}pre{background:#f7f7f7;padding:.6em;overflow:auto;max-height:24em}\
.fig{display:inline-block;margin:.4em;vertical-align:top}.fig img{max-width:640px;max-height:480px}\
.controls{margin:.5em 0}.gallery{display:flex;flex-wrap:wrap;gap:10px}\
.card{width:250px;border:2px solid #ccc;border-radius:6px;padding:4px;font-size:13px}\
.card img{width:100%;height:190px;object-fit:contain;background:#fff}\
.card.right{border-color:#4caf50}.card.wrong{border-color:#e53935}";
