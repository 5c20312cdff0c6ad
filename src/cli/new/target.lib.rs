//! The target `{{route}}`: `POST /api/{{route}}/read` with `{"name": "Ada"}` answers
//! `{"greeting":"Hello, Ada!"}`. The request and the response are typed (`Json<T>`); a
//! rule on `Valid<T>` refuses an empty or too long name with a 400 field error.

use apiphant_sdk::{ApiResult, Json, Valid};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use validator::Validate;

/// `read`'s request.
#[derive(Debug, Deserialize, Validate, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Greet {
    /// Who to greet: 1 to 40 characters.
    #[validate(length(min = 1, max = 40))]
    pub name: String,
}

/// `read`'s response.
#[derive(Debug, PartialEq, Eq, Serialize, JsonSchema)]
pub struct Greeting {
    /// `Hello, <name>!`.
    pub greeting: String,
}

/// Greets `name`.
pub fn read(Valid(greet): Valid<Greet>) -> ApiResult<Json<Greeting>> {
    Ok(Json(Greeting {
        greeting: format!("Hello, {}!", greet.name),
    }))
}

apiphant_sdk::export! { "{{route}}" => { read } }

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greets_by_name() {
        let greet = Greet {
            name: "Ada".to_owned(),
        };
        let Json(greeting) = read(Valid(greet)).expect("read answers");
        assert_eq!(greeting.greeting, "Hello, Ada!");
    }

    #[test]
    fn an_empty_name_breaks_the_rule() {
        let greet = Greet {
            name: String::new(),
        };
        assert!(greet.validate().is_err());
    }
}
