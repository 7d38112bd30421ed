//! Accounts: the first-run set-up, logging in and out with a session cookie and its CSRF token,
//! failed logins slowed down, users added, given a role, given a new password and removed by owners, API keys, the API token beside
//! them, the owner named at start, and the open API of a loopback service with no user; on
//! SQLite and PostgreSQL.

use axum::http::StatusCode;
use chrono::TimeDelta;
use serde_json::{Value, json};
use tests::service::{Answer, TestApp, backends};

const PASSWORD: &str = "correct horse battery";

fn credentials(email: &str, password: &str) -> String {
    json!({"email": email, "password": password}).to_string()
}

/// A browser's login: the cookie it sends back and the CSRF token the web app keeps.
struct Login {
    cookie: String,
    csrf: String,
}

impl Login {
    fn of(answer: &Answer) -> Login {
        let set = answer.header("set-cookie");
        Login {
            cookie: set.split(';').next().unwrap().to_string(),
            csrf: answer.body["csrf"].as_str().unwrap_or_default().to_string(),
        }
    }

    /// The headers of a read made with the cookie.
    fn reads(&self) -> [(&str, &str); 1] {
        [("cookie", self.cookie.as_str())]
    }

    /// The headers of a write made with the cookie: the CSRF token too.
    fn writes(&self) -> [(&str, &str); 2] {
        [("cookie", self.cookie.as_str()), ("x-csrf-token", self.csrf.as_str())]
    }
}

async fn set_up(t: &TestApp) -> Login {
    let answer = t
        .request("POST", "/api/setup", &credentials(" Owner@Example.com ", PASSWORD), &[])
        .await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
    Login::of(&answer)
}

async fn log_in(t: &TestApp, email: &str, password: &str) -> Answer {
    t.request("POST", "/api/session", &credentials(email, password), &[])
        .await
}

#[tokio::test]
async fn the_first_run_creates_one_owner_and_a_second_setup_is_a_conflict() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let first = credentials("ann@example.com", PASSWORD);
        let second = credentials("bob@example.com", PASSWORD);
        let (a, b) = tokio::join!(t.post("/api/setup", &first), t.post("/api/setup", &second));
        let mut statuses = [a.0, b.0];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::CONFLICT],
            "{}: two set-ups at once make one owner",
            backend.name
        );
        let created = if a.0 == StatusCode::CREATED { a.1 } else { b.1 };
        assert_eq!(created["user"]["role"], "owner");
        let (status, answer) = t.post("/api/setup", &credentials("cy@example.com", PASSWORD)).await;
        assert_eq!(status, StatusCode::CONFLICT, "{answer}");
        t.stop().await;
    }
}

#[tokio::test]
async fn a_setup_names_what_is_wrong_with_its_address_and_password() {
    let backend = &backends().await[0];
    let t = TestApp::spawn(backend).await;
    let (status, answer) = t.post("/api/setup", &credentials("not an address", "short")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["email", "password"]);
    let (status, _) = t.get("/api/flows").await;
    assert_eq!(status, StatusCode::OK, "nothing was created: the API is still open");
    t.stop().await;
}

#[tokio::test]
async fn logging_in_sets_an_http_only_strict_cookie_and_the_session_shows_the_user() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        set_up(&t).await;
        let answer = log_in(&t, "OWNER@example.com", PASSWORD).await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        let cookie = answer.header("set-cookie");
        for attribute in [
            "cairn_session=",
            "HttpOnly",
            "SameSite=Strict",
            "Path=/",
            "Max-Age=1209600",
            "Secure",
        ] {
            assert!(cookie.contains(attribute), "{}: {cookie}", backend.name);
        }
        assert_eq!(answer.body["user"]["email"], "owner@example.com", "stored lowercase");
        let login = Login::of(&answer);
        let (status, session) = t.call_with("GET", "/api/session", "", &login.reads()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(session["user"]["email"], "owner@example.com");
        assert_eq!(session["user"]["role"], "owner");
        assert_eq!(session["csrf"], login.csrf.as_str());
        assert_eq!((&session["setup"], &session["open"]), (&json!(false), &json!(false)));
        let (_, stranger) = t.get("/api/session").await;
        assert_eq!(
            stranger,
            json!({"user": null, "csrf": null, "setup": false, "open": false}),
            "{}",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_wrong_password_is_refused_and_after_five_failures_an_address_must_wait() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        set_up(&t).await;
        let unknown = log_in(&t, "nobody@example.com", PASSWORD).await;
        assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
        for _ in 0..5 {
            let wrong = log_in(&t, "owner@example.com", "wrong password!").await;
            assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.body);
            assert_eq!(
                wrong.body["error"]["message"], unknown.body["error"]["message"],
                "an unknown address and a wrong password read the same"
            );
        }
        let sixth = log_in(&t, "owner@example.com", PASSWORD).await;
        assert_eq!(
            sixth.status,
            StatusCode::TOO_MANY_REQUESTS,
            "{}: even the right password waits",
            backend.name
        );
        assert_eq!(sixth.header("retry-after"), "900");
        t.clock.advance(TimeDelta::minutes(15));
        assert_eq!(log_in(&t, "owner@example.com", PASSWORD).await.status, StatusCode::OK);
        t.stop().await;
    }
}

#[tokio::test]
async fn once_an_owner_exists_the_api_needs_a_login_and_writes_need_the_csrf_token() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let (_, open) = t.get("/api/session").await;
        assert_eq!(open, json!({"user": null, "csrf": null, "setup": true, "open": true}));
        assert_eq!(t.get("/api/flows").await.0, StatusCode::OK, "no user yet: open");
        let login = set_up(&t).await;
        let (status, answer) = t.get("/api/flows").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{}: {answer}", backend.name);
        assert_eq!(
            t.call_with("GET", "/api/flows", "", &login.reads()).await.0,
            StatusCode::OK
        );
        let segment = json!({"name": "everyone", "condition": {"in_list": "customers"}}).to_string();
        let (status, refused) = t.call_with("POST", "/api/segments", &segment, &login.reads()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{refused}");
        assert!(
            refused["error"]["message"].as_str().unwrap().contains("X-CSRF-Token"),
            "{refused}"
        );
        let wrong = [("cookie", login.cookie.as_str()), ("x-csrf-token", "guess")];
        assert_eq!(
            t.call_with("POST", "/api/segments", &segment, &wrong).await.0,
            StatusCode::FORBIDDEN
        );
        let (status, saved) = t.call_with("POST", "/api/segments", &segment, &login.writes()).await;
        assert_eq!(status, StatusCode::CREATED, "{saved}");
        for public in ["/api/openapi.json", "/api/schema/flow.json", "/healthz"] {
            assert_eq!(t.get(public).await.0, StatusCode::OK, "{public} stays public");
        }
        t.stop().await;
    }
}

#[tokio::test]
async fn logging_out_makes_the_cookie_useless() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let login = set_up(&t).await;
        let out = t.request("DELETE", "/api/session", "", &login.writes()).await;
        assert_eq!(out.status, StatusCode::NO_CONTENT);
        assert!(out.header("set-cookie").contains("Max-Age=0"), "the cookie is cleared");
        assert_eq!(
            t.call_with("GET", "/api/flows", "", &login.reads()).await.0,
            StatusCode::UNAUTHORIZED,
            "{}",
            backend.name
        );
        let (_, session) = t.call_with("GET", "/api/session", "", &login.reads()).await;
        assert_eq!(session["user"], Value::Null);
        t.stop().await;
    }
}

async fn flows(t: &TestApp, login: &Login) -> Answer {
    t.request("GET", "/api/flows", "", &login.reads()).await
}

#[tokio::test]
async fn a_session_lasts_fourteen_days_from_its_last_use_and_thirty_from_the_login() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let login = set_up(&t).await;
        t.clock.advance(TimeDelta::days(13));
        let used = flows(&t, &login).await;
        assert_eq!(used.status, StatusCode::OK);
        assert!(
            used.header("set-cookie").contains("Max-Age=1209600"),
            "a use renews the cookie: {}",
            used.header("set-cookie")
        );
        t.clock.advance(TimeDelta::days(13));
        assert_eq!(
            flows(&t, &login).await.status,
            StatusCode::OK,
            "13 days after its last use"
        );
        t.clock.advance(TimeDelta::days(3));
        let last = flows(&t, &login).await;
        assert_eq!(last.status, StatusCode::OK, "29 days after the login");
        assert!(
            last.header("set-cookie").contains("Max-Age=86400"),
            "the cookie ends with the session, 30 days after the login: {}",
            last.header("set-cookie")
        );
        t.clock.advance(TimeDelta::days(1));
        assert_eq!(
            flows(&t, &login).await.status,
            StatusCode::UNAUTHORIZED,
            "{}: 30 days after the login",
            backend.name
        );
        let again = Login::of(&log_in(&t, "owner@example.com", PASSWORD).await);
        t.clock.advance(TimeDelta::days(14) + TimeDelta::minutes(2));
        assert_eq!(
            flows(&t, &again).await.status,
            StatusCode::UNAUTHORIZED,
            "{}: 14 days unused",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn owners_add_and_remove_users_and_the_last_owner_stays() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let owner = set_up(&t).await;
        let member = json!({"email": "Mia@Example.com", "password": PASSWORD, "role": "member"}).to_string();
        let (status, mia) = t.call_with("POST", "/api/users", &member, &owner.writes()).await;
        assert_eq!(status, StatusCode::CREATED, "{mia}");
        assert_eq!(
            (&mia["email"], &mia["role"]),
            (&json!("mia@example.com"), &json!("member"))
        );
        assert!(mia.get("password_hash").is_none());
        let (status, _) = t.call_with("POST", "/api/users", &member, &owner.writes()).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "{}: one account per address",
            backend.name
        );
        let bad = json!({"email": "x@example.com", "password": PASSWORD, "role": "admin"}).to_string();
        let (status, answer) = t.call_with("POST", "/api/users", &bad, &owner.writes()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(answer["error"]["details"][0]["field"], "role");
        let (status, users) = t.call_with("GET", "/api/users", "", &owner.reads()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(users.as_array().unwrap().len(), 2);
        assert!(!users.to_string().contains("argon2"), "no hashes: {users}");

        let as_mia = Login::of(&log_in(&t, "mia@example.com", PASSWORD).await);
        let another = json!({"email": "sam@example.com", "password": PASSWORD, "role": "owner"}).to_string();
        let (status, _) = t.call_with("POST", "/api/users", &another, &as_mia.writes()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a member adds no one");
        let owner_id = users[0]["id"].as_i64().unwrap();
        let (status, answer) = t
            .call_with("DELETE", &format!("/api/users/{owner_id}"), "", &owner.writes())
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {answer}", backend.name);
        let mia_id = mia["id"].as_i64().unwrap();
        let (status, _) = t
            .call_with("DELETE", &format!("/api/users/{mia_id}"), "", &owner.writes())
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            t.call_with("GET", "/api/flows", "", &as_mia.reads()).await.0,
            StatusCode::UNAUTHORIZED,
            "a removed user's sessions end with them"
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_owner_makes_a_member_an_owner_and_back_but_never_leaves_no_owner() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let owner = set_up(&t).await;
        let member = json!({"email": "mia@example.com", "password": PASSWORD, "role": "member"}).to_string();
        let (status, mia) = t.call_with("POST", "/api/users", &member, &owner.writes()).await;
        assert_eq!(status, StatusCode::CREATED, "{mia}");
        let as_mia = Login::of(&log_in(&t, "mia@example.com", PASSWORD).await);
        let sam = json!({"email": "sam@example.com", "password": PASSWORD, "role": "member"}).to_string();
        let (status, _) = t.call_with("POST", "/api/users", &sam, &as_mia.writes()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a member adds no one");

        let mia_at = format!("/api/users/{}", mia["id"]);
        let (status, _) = t
            .call_with("PATCH", &mia_at, r#"{"role": "owner"}"#, &as_mia.writes())
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a member cannot make themselves an owner"
        );
        let (status, answer) = t
            .call_with("PATCH", &mia_at, r#"{"role": "admin"}"#, &owner.writes())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        let (status, promoted) = t
            .call_with("PATCH", &mia_at, r#"{"role": "owner"}"#, &owner.writes())
            .await;
        assert_eq!(
            (status, &promoted["role"]),
            (StatusCode::OK, &json!("owner")),
            "{promoted}"
        );
        let (status, answer) = t.call_with("POST", "/api/users", &sam, &as_mia.writes()).await;
        assert_eq!(
            status,
            StatusCode::CREATED,
            "{}: her session has the new role at once: {answer}",
            backend.name
        );

        // The first owner steps down; Mia, now the last owner, cannot.
        let (_, users) = t.call_with("GET", "/api/users", "", &owner.reads()).await;
        let first = format!("/api/users/{}", users[0]["id"]);
        let (status, _) = t
            .call_with("PATCH", &first, r#"{"role": "member"}"#, &owner.writes())
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, answer) = t
            .call_with("PATCH", &mia_at, r#"{"role": "member"}"#, &as_mia.writes())
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{}: {answer}", backend.name);
        assert!(
            answer["error"]["message"].as_str().unwrap().contains("last owner"),
            "{answer}"
        );
        let (status, _) = t
            .call_with("PATCH", "/api/users/999", r#"{"role": "member"}"#, &as_mia.writes())
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        t.stop().await;
    }
}

#[tokio::test]
async fn an_owner_sets_a_new_password_for_a_user_who_forgot_theirs_and_their_sessions_end() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let owner = set_up(&t).await;
        let member = json!({"email": "mia@example.com", "password": PASSWORD, "role": "member"}).to_string();
        let (_, mia) = t.call_with("POST", "/api/users", &member, &owner.writes()).await;
        let as_mia = Login::of(&log_in(&t, "mia@example.com", PASSWORD).await);
        let at = format!("/api/users/{}/password", mia["id"]);
        let fresh = r#"{"password": "a brand new password"}"#;

        let (status, _) = t.call_with("PUT", &at, fresh, &as_mia.writes()).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a member sets no one's password");
        let (status, answer) = t
            .call_with("PUT", &at, r#"{"password": "short"}"#, &owner.writes())
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{answer}");
        assert_eq!(answer["error"]["details"][0]["field"], "password");
        let (status, answer) = t.call_with("PUT", &at, fresh, &owner.writes()).await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{}: {answer}", backend.name);

        assert_eq!(
            t.call_with("GET", "/api/flows", "", &as_mia.reads()).await.0,
            StatusCode::UNAUTHORIZED,
            "her sessions ended"
        );
        assert_eq!(
            log_in(&t, "mia@example.com", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            log_in(&t, "mia@example.com", "a brand new password").await.status,
            StatusCode::OK
        );
        let (_, users) = t.call_with("GET", "/api/users", "", &owner.reads()).await;
        let own = format!("/api/users/{}/password", users[0]["id"]);
        let (status, answer) = t.call_with("PUT", &own, fresh, &owner.writes()).await;
        assert_eq!(
            status,
            StatusCode::CONFLICT,
            "one's own goes with the current one: {answer}"
        );
        assert_eq!(
            t.call_with("PUT", "/api/users/999/password", fresh, &owner.writes())
                .await
                .0,
            StatusCode::NOT_FOUND
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn an_api_key_works_as_a_bearer_token_until_it_is_revoked() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let owner = set_up(&t).await;
        let (status, made) = t
            .call_with("POST", "/api/keys", r#"{"name": "shop"}"#, &owner.writes())
            .await;
        assert_eq!(status, StatusCode::CREATED, "{made}");
        let token = made["token"].as_str().unwrap().to_string();
        assert!(token.starts_with("cairn_") && token.len() == 6 + 43, "{token}");
        assert_eq!(made["prefix"], &token[..8]);
        assert_eq!(made["last_used_at"], Value::Null);
        assert!(made["created_by"].is_i64(), "made by the owner: {made}");
        let bearer = format!("Bearer {token}");
        let key = [("authorization", bearer.as_str())];

        let (status, _) = t.call_with("GET", "/api/flows", "", &key).await;
        assert_eq!(status, StatusCode::OK, "{}", backend.name);
        let first_use = t.now();
        let (_, listed) = t.call_with("GET", "/api/keys", "", &key).await;
        assert!(
            !listed.to_string().contains(&token),
            "the token is never listed: {listed}"
        );
        assert!(listed[0].get("token").is_none());
        let used_at = |listed: &Value| listed[0]["last_used_at"].as_str().unwrap().to_string();
        assert_eq!(
            used_at(&listed).parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
            first_use
        );
        t.clock.advance(TimeDelta::seconds(30));
        let (_, listed) = t.call_with("GET", "/api/keys", "", &key).await;
        assert_eq!(
            used_at(&listed).parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
            first_use,
            "written at most once a minute"
        );
        t.clock.advance(TimeDelta::seconds(31));
        let (_, listed) = t.call_with("GET", "/api/keys", "", &key).await;
        assert_eq!(
            used_at(&listed).parse::<chrono::DateTime<chrono::Utc>>().unwrap(),
            t.now()
        );

        let segment = json!({"name": "all", "condition": {"in_list": "customers"}}).to_string();
        let (status, _) = t.call_with("POST", "/api/segments", &segment, &key).await;
        assert_eq!(status, StatusCode::CREATED, "a bearer write needs no CSRF token");

        let id = made["id"].as_i64().unwrap();
        let (status, _) = t
            .call_with("DELETE", &format!("/api/keys/{id}"), "", &owner.writes())
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            t.call_with("GET", "/api/flows", "", &key).await.0,
            StatusCode::UNAUTHORIZED,
            "{}: a revoked key",
            backend.name
        );
        let (_, listed) = t.call_with("GET", "/api/keys", "", &owner.reads()).await;
        assert!(listed[0]["revoked_at"].is_string(), "still listed: {listed}");
        t.stop().await;
    }
}

#[tokio::test]
async fn the_api_token_keeps_working_beside_users_and_guards_the_first_run() {
    for backend in backends().await {
        let t = TestApp::spawn_secured(&backend, "admin-token-123").await;
        let token = [("authorization", "Bearer admin-token-123")];
        let (_, session) = t.get("/api/session").await;
        assert_eq!(session["open"], false, "a token closes the API");
        assert_eq!(session["setup"], false, "strangers are not offered the first run");
        let owner = credentials("owner@example.com", PASSWORD);
        assert_eq!(t.post("/api/setup", &owner).await.0, StatusCode::UNAUTHORIZED);
        let (status, answer) = t.call_with("POST", "/api/setup", &owner, &token).await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(t.call_with("GET", "/api/flows", "", &token).await.0, StatusCode::OK);
        assert_eq!(t.get("/api/flows").await.0, StatusCode::UNAUTHORIZED);
        let member = json!({"email": "mia@example.com", "password": PASSWORD, "role": "member"}).to_string();
        assert_eq!(
            t.call_with("POST", "/api/users", &member, &token).await.0,
            StatusCode::CREATED,
            "{}: the token may add users",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn the_admin_named_at_start_is_the_owner_and_is_not_created_twice() {
    for backend in backends().await {
        let admin = |email: &str| orchestrator::app::Admin {
            email: email.into(),
            password: PASSWORD.into(),
        };
        let t = TestApp::spawn_configured(&backend, |c| c.admin = Some(admin("Admin@Example.com"))).await;
        let (_, session) = t.get("/api/session").await;
        assert_eq!((&session["setup"], &session["open"]), (&json!(false), &json!(false)));
        assert_eq!(t.get("/api/flows").await.0, StatusCode::UNAUTHORIZED);
        let login = log_in(&t, "admin@example.com", PASSWORD).await;
        assert_eq!(login.status, StatusCode::OK, "{}", login.body);
        assert_eq!(login.body["user"]["role"], "owner");
        t.stop().await;

        let t = TestApp::spawn_configured(&backend, |c| c.admin = Some(admin("other@example.com"))).await;
        let login = Login::of(&log_in(&t, "admin@example.com", PASSWORD).await);
        let (_, users) = t.call_with("GET", "/api/users", "", &login.reads()).await;
        let emails: Vec<&str> = users
            .as_array()
            .unwrap()
            .iter()
            .map(|u| u["email"].as_str().unwrap())
            .collect();
        assert_eq!(
            emails,
            ["admin@example.com"],
            "{}: users exist, the variables are ignored",
            backend.name
        );
        t.stop().await;
    }
}

#[tokio::test]
async fn a_service_listening_beyond_loopback_without_any_protection_refuses_to_start() {
    let backend = &backends().await[0];
    let refusal = TestApp::try_spawn(backend, |c| c.listen = "0.0.0.0:0".parse().unwrap())
        .await
        .err()
        .expect("refused");
    for named in [
        "CAIRN_ADMIN_EMAIL",
        "CAIRN_ADMIN_PASSWORD",
        "CAIRN_API_TOKEN",
        "127.0.0.1",
    ] {
        assert!(refusal.contains(named), "{refusal}");
    }
    let t = TestApp::try_spawn(backend, |c| {
        c.listen = "0.0.0.0:0".parse().unwrap();
        c.api_token = Some("a-token-for-the-network".into());
    })
    .await
    .expect("a token protects it");
    t.stop().await;
}

#[tokio::test]
async fn a_user_changes_their_password_with_the_current_one_and_their_other_sessions_end() {
    for backend in backends().await {
        let t = TestApp::spawn(&backend).await;
        let here = set_up(&t).await;
        let elsewhere = Login::of(&log_in(&t, "owner@example.com", PASSWORD).await);
        let change = |current: &str, password: &str| json!({"current": current, "password": password}).to_string();

        let wrong = t
            .request(
                "PUT",
                "/api/users/me/password",
                &change("not it", "a new long password"),
                &here.writes(),
            )
            .await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", wrong.body);
        assert_eq!(wrong.body["error"]["details"][0]["field"], "current");
        let short = t
            .request(
                "PUT",
                "/api/users/me/password",
                &change(PASSWORD, "short"),
                &here.writes(),
            )
            .await;
        assert_eq!(short.body["error"]["details"][0]["field"], "password", "{}", short.body);

        let done = t
            .request(
                "PUT",
                "/api/users/me/password",
                &change(PASSWORD, "a new long password"),
                &here.writes(),
            )
            .await;
        assert_eq!(done.status, StatusCode::NO_CONTENT, "{}", done.body);
        assert_eq!(
            flows(&t, &here).await.status,
            StatusCode::OK,
            "{}: this session stays",
            backend.name
        );
        assert_eq!(
            flows(&t, &elsewhere).await.status,
            StatusCode::UNAUTHORIZED,
            "the other session ended"
        );
        assert_eq!(
            log_in(&t, "owner@example.com", PASSWORD).await.status,
            StatusCode::UNAUTHORIZED
        );
        assert_eq!(
            log_in(&t, "owner@example.com", "a new long password").await.status,
            StatusCode::OK
        );
        t.stop().await;
    }
}
