//! The open projects, headless: shown and background projects, the limit, and what
//! their watchers tell the engine and the front end.

use super::*;
use flint_core::projects::{OpenProjects, ProjectEvent};

fn engine() -> (tempfile::TempDir, Engine) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("flint.db")).unwrap();
    (dir, Engine::new(store, None, None))
}

fn project(name: &str) -> tempfile::TempDir {
    let dir = tempfile::Builder::new().prefix(name).tempdir().unwrap();
    std::fs::write(dir.path().join("a.txt"), "a\n").unwrap();
    dir
}

#[tokio::test]
async fn a_project_shown_before_stays_open_in_the_background_up_to_the_limit() {
    let (_db, engine) = engine();
    let open = OpenProjects::new(engine, 2, |_| {});
    let (a, b, c) = (project("a"), project("b"), project("c"));
    open.open(a.path()).await.unwrap();
    let index_a = open.current.lock().await.as_ref().unwrap().index.clone();
    open.open(b.path()).await.unwrap();
    let names = |list: Vec<flint_core::projects::OpenProjectInfo>| {
        list.into_iter()
            .map(|p| (p.name.chars().next().unwrap(), p.shown))
            .collect::<Vec<_>>()
    };
    assert_eq!(names(open.list().await), [('b', true), ('a', false)]);
    // Back to A: the same index (nothing rebuilt), B in the background.
    open.open(a.path()).await.unwrap();
    let again = open.current.lock().await.as_ref().unwrap().index.clone();
    assert!(Arc::ptr_eq(&index_a, &again));
    assert_eq!(names(open.list().await), [('a', true), ('b', false)]);
    // A third past the limit of two closes the longest unused.
    open.open(c.path()).await.unwrap();
    assert_eq!(names(open.list().await), [('c', true), ('a', false)]);
    // A path that does not open changes nothing.
    let file = c.path().join("a.txt");
    assert!(open.open(&file).await.is_err());
    assert_eq!(names(open.list().await), [('c', true), ('a', false)]);
}

#[tokio::test]
async fn only_the_shown_projects_changes_reach_the_front_end_but_all_reach_the_engine() {
    let (_db, engine) = engine();
    let events: Arc<Mutex<Vec<ProjectEvent>>> = Arc::default();
    let seen = events.clone();
    let open = OpenProjects::new(engine.clone(), 6, move |e| seen.lock().unwrap().push(e));
    let (a, b) = (project("a"), project("b"));
    open.open(a.path()).await.unwrap();
    open.open(b.path()).await.unwrap();
    // Give the watchers a moment to start, then the user edits a file in each.
    tokio::time::sleep(Duration::from_millis(300)).await;
    std::fs::write(a.path().join("bg.txt"), "written in the background\n").unwrap();
    std::fs::write(b.path().join("a.txt"), "edited where shown\n").unwrap();
    std::fs::write(b.path().join("shown.txt"), "new where shown\n").unwrap();
    let root = |d: &tempfile::TempDir| std::fs::canonicalize(d.path()).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let shown_told = events.lock().unwrap().iter().any(|e| {
            matches!(e, ProjectEvent::FilesChanged { user_changes, .. } if user_changes.iter().any(|p| p == "a.txt"))
        });
        if shown_told && !engine.user_changes(&root(&a)).is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no change seen: {:?}",
            events.lock().unwrap()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // The background project's edit is known to the engine (for its next turn), and
    // only one project's changes reached the front end.
    assert_eq!(engine.user_changes(&root(&a)), ["bg.txt"]);
    // Every change the front end was told of is the shown project's: never bg.txt.
    let events = events.lock().unwrap();
    for e in events.iter() {
        if let ProjectEvent::FilesChanged { user_changes, .. } = e {
            assert!(
                user_changes
                    .iter()
                    .all(|p| p == "a.txt" || p == "shown.txt"),
                "{e:?}"
            );
        }
    }
    assert_eq!(
        engine.user_changes(&root(&b)).len(),
        2,
        "{:?}",
        engine.user_changes(&root(&b))
    );
}
