//! A component for another world: it exports `hello` and no `run`.

wit_bindgen::generate!({
    inline: "
        package weft:stranger;

        world stranger {
            export hello: func() -> string;
        }
    ",
});

struct Stranger;

impl Guest for Stranger {
    fn hello() -> String {
        "hello".into()
    }
}

export!(Stranger);
