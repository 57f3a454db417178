//! A policy whose world imports `weft:mcp/vault`, an interface weft does
//! not provide, and uses it (so the import is really in the component).

wit_bindgen::generate!({
    inline: "
        package weft:mcp@0.1.0;

        interface vault {
            get-secret: func(name: string) -> string;
        }

        world alien {
            import vault;
            export run: func(input: string) -> result<string, string>;
        }
    ",
});

struct Alien;

impl Guest for Alien {
    fn run(input: String) -> Result<String, String> {
        Ok(weft::mcp::vault::get_secret(&input))
    }
}

export!(Alien);
