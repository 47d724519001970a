//! A minimal browser: keeps cookies, sends the page's `Origin`, and fills in the CSRF field.

use std::collections::HashMap;

use reqwest::header::{HeaderMap, LOCATION, SET_COOKIE};
use reqwest::Response;
use uuid::Uuid;

use crate::helpers::*;
use klinivo::domain::accounts::users::{self, Role};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Browser {
    pub base: String,
    pub client: reqwest::Client,
    pub cookies: HashMap<String, String>,
}

pub struct Page {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: String,
}

impl Page {
    /// The value of the first hidden `csrf` field.
    pub fn csrf(&self) -> String {
        let at = self.body.find("name=\"csrf\" value=\"").expect("the page has a form with a csrf field");
        let rest = &self.body[at + 19..];
        rest[..rest.find('"').unwrap()].to_string()
    }

    /// The text of the element with this id (`<code id="secret">…</code>`).
    pub fn text_of(&self, id: &str) -> String {
        let marker = format!("id=\"{id}\">");
        let at = self.body.find(&marker).unwrap_or_else(|| panic!("no #{id} in {}", self.body));
        let rest = &self.body[at + marker.len()..];
        rest[..rest.find('<').unwrap()].to_string()
    }

    pub fn location(&self) -> Option<&str> {
        self.headers.get(LOCATION).and_then(|v| v.to_str().ok())
    }
}

impl Browser {
    pub fn new(app: &TestApp) -> Browser {
        Browser {
            base: app.url(""),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            cookies: HashMap::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join("; ")
    }

    async fn read(&mut self, response: Response) -> Page {
        for v in response.headers().get_all(SET_COOKIE) {
            let text = v.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            if attributes.contains("Max-Age=0") {
                self.cookies.remove(name);
            } else {
                self.cookies.insert(name.to_string(), value.to_string());
            }
        }
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        Page { status, headers, body: response.text().await.unwrap() }
    }

    pub async fn get(&mut self, path: &str) -> Page {
        let response = self
            .client
            .get(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(response).await
    }

    /// Posts a form as the page at `path` would: with this server's `Origin`.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let origin = self.base.clone();
        self.post_from(path, fields, Some(&origin)).await
    }

    pub async fn post_from(&mut self, path: &str, fields: &[(&str, &str)], origin: Option<&str>) -> Page {
        let mut request = self
            .client
            .post(format!("{}{path}", self.base))
            .header("Cookie", self.cookie_header())
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(serde_urlencoded::to_string(fields).unwrap());
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let response = request.send().await.unwrap();
        self.read(response).await
    }

    /// Fetches `form_page`, then posts `fields` and its CSRF token to `action`.
    pub async fn submit(&mut self, form_page: &str, action: &str, fields: &[(&str, &str)]) -> Page {
        let csrf = self.get(form_page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(fields);
        self.post(action, &all).await
    }

    pub async fn sign_in(&mut self, email: &str, password: &str) -> Page {
        self.submit("/console/sign-in", "/console/sign-in", &[("email", email), ("password", password)]).await
    }
}

/// A person of `org` with a password set, signed in.
pub async fn signed_in(app: &TestApp, org: Uuid, role: Role) -> (Browser, i64, String) {
    let email = format!("{}@clinic.test", Uuid::new_v4().simple());
    let id = person(app, org, &email, role).await;
    let mut browser = Browser::new(app);
    let page = browser.sign_in(&email, PASSWORD).await;
    assert_eq!(page.status, 303, "{}", page.body);
    assert_eq!(page.location(), Some("/console/keys"));
    (browser, id, email)
}

/// A person of `org` whose password is set through their link.
pub async fn person(app: &TestApp, org: Uuid, email: &str, role: Role) -> i64 {
    let mut tx = app.db.begin().await.unwrap();
    let invitation = users::create(&mut tx, org, email, role, None).await.unwrap();
    tx.commit().await.unwrap();
    let mut browser = Browser::new(app);
    let path = format!("/console/set-password/{}", invitation.token);
    let page = browser.submit(&path, &path, &[("password", PASSWORD), ("repeat", PASSWORD)]).await;
    assert_eq!(page.status, 303, "{}", page.body);
    invitation.user.id
}
