//! `flint sessions list|search|show|export`: the history on the command line.

use super::*;

pub(crate) async fn sessions(
    action: SessionsCommand,
    out: &mut (dyn Write + Send),
    tty: bool,
) -> Result<(), String> {
    let engine = offline_engine()?;
    let project_id = |p: Option<PathBuf>| {
        let engine = engine.clone();
        async move {
            match p {
                Some(p) => open_project(&engine, &p)
                    .await
                    .map(|w| Some(w.project.id))
                    .map_err(|e| e.to_string()),
                None => Ok(None),
            }
        }
    };
    let text = match action {
        SessionsCommand::List { project, limit } => {
            let pid = project_id(project).await?;
            let list = engine
                .db(move |s| s.list_sessions(pid, limit))
                .await
                .map_err(|e| e.to_string())?;
            let mut t = String::new();
            for s in list {
                let title = if s.session.title.is_empty() {
                    "(untitled)"
                } else {
                    &s.session.title
                };
                t.push_str(&format!(
                    "{:>6}  {}  {:<16}  {:<24}  {:>4} items  {title}\n",
                    s.session.id,
                    date(s.session.updated_at),
                    s.project_name,
                    s.model.unwrap_or_else(|| "-".into()),
                    s.items,
                ));
            }
            t
        }
        SessionsCommand::Search {
            query,
            project,
            model,
            limit,
        } => {
            let pid = project_id(project).await?;
            let filter = SearchFilter {
                project_id: pid,
                model,
                ..SearchFilter::default()
            };
            let q = query.join(" ");
            let hits = engine
                .db(move |s| s.search(&q, &filter, limit))
                .await
                .map_err(|e| e.to_string())?;
            let mut t = String::new();
            for h in hits {
                let snippet: String = h
                    .snippet
                    .iter()
                    .map(|p| {
                        if p.hit {
                            format!("[{}]", p.text)
                        } else {
                            p.text.clone()
                        }
                    })
                    .collect::<String>()
                    .replace('\n', " ");
                t.push_str(&format!(
                    "session {} item {}  {}  {}: {snippet}\n",
                    h.session.id,
                    h.item_id,
                    date(h.created_at),
                    h.project_name
                ));
            }
            t
        }
        SessionsCommand::Show { id }
        | SessionsCommand::Export {
            id,
            format: ExportFormat::Md,
        } => {
            let (session, items, name) = engine
                .db(move |s| {
                    let (session, items) = s.session_with_items(id)?;
                    Ok((session, items, s.project_name_of(id)?.unwrap_or_default()))
                })
                .await
                .map_err(|e| e.to_string())?;
            to_markdown(&session, &name, &items)
        }
        SessionsCommand::Export {
            id,
            format: ExportFormat::Json,
        } => {
            let (session, items) = engine
                .db(move |s| s.session_with_items(id))
                .await
                .map_err(|e| e.to_string())?;
            let value = serde_json::json!({ "session": session, "items": items });
            serde_json::to_string_pretty(&value).map_err(|e| e.to_string())? + "\n"
        }
    };
    // Stored answers and titles are the model's words: escaped on a terminal.
    let shown = if tty {
        escaped(&text)
    } else {
        text.as_str().into()
    };
    out.write_all(shown.as_bytes()).map_err(|e| e.to_string())
}

/// A Unix-millisecond time as a UTC date and time.
pub(crate) fn date(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60
    )
}
