use super::*;

fn round_trips<T: OptionValue + PartialEq>(value: T) {
    let rendered = value.render();
    let parsed = T::parse_raw(&rendered).expect("a rendered value parses");
    assert_eq!(parsed, value, "render gave {rendered:?}");
}

fn error_of<T: OptionValue>(raw: &str) -> String {
    match T::parse_raw(raw) {
        Ok(value) => panic!("{raw:?} was accepted as {value:?}"),
        Err(error) => error,
    }
}

const PORT_EXPECTED: &str = "expected a port number from 0 to 65535 (0 picks any free port)";

#[test]
fn ports_cover_zero_to_65535() {
    assert_eq!(Port::parse_raw("0"), Ok(Port(0)));
    assert!(Port(0).is_any());
    assert_eq!(Port::parse_raw(" 8080 "), Ok(Port(8080)));
    assert_eq!(Port::parse_raw("65535"), Ok(Port(65535)));
    assert_eq!(Port::parse_raw("-0"), Ok(Port(0)));
    assert_eq!(Port::parse_raw("8_080").map(Port::get), Ok(8080));
}

#[test]
fn ports_refuse_everything_else() {
    for bad in [
        "65536",
        "-1",
        "80.0",
        "0x50",
        "http",
        "",
        "99999999999999999999",
    ] {
        assert_eq!(error_of::<Port>(bad), PORT_EXPECTED, "{bad:?}");
    }
}

#[test]
fn ports_are_numbers_that_read_back() {
    assert!(Port::empty_means_unset());
    assert_eq!(Port(443).as_number(), Some(443.0));
    assert_eq!(Port(443).to_json(), serde_json::json!(443));
    assert_eq!(u16::from(Port(22)), 22);
    round_trips(Port(0));
    round_trips(Port(65535));
}

#[test]
fn quoted_strings_lose_one_pair_of_matching_quotes() {
    let parse = |raw| QuotedString::parse_raw(raw).map(|q| q.0);
    assert_eq!(parse("\"a b\""), Ok("a b".to_string()));
    assert_eq!(parse("'a b'"), Ok("a b".to_string()));
    assert_eq!(parse("\"\""), Ok(String::new()));
    assert_eq!(parse("\"a\"b\""), Ok("a\"b".to_string()));
    assert_eq!(parse("plain"), Ok("plain".to_string()));
    assert_eq!(parse("a\"b"), Ok("a\"b".to_string()));
    assert_eq!(parse(""), Ok(String::new()));
}

#[test]
fn an_unclosed_quote_is_an_error() {
    assert_eq!(
        error_of::<QuotedString>("\"abc"),
        "expected a closing \" at the end of the value"
    );
    assert_eq!(
        error_of::<QuotedString>("'abc\""),
        "expected a closing ' at the end of the value"
    );
    assert_eq!(
        error_of::<QuotedString>("\""),
        "expected a closing \" at the end of the value"
    );
}

#[test]
fn quoted_list_items_may_contain_commas() {
    let items = Vec::<QuotedString>::parse_raw("\"a, b\", c, 'd,e,f',").unwrap();
    let texts: Vec<&str> = items.iter().map(QuotedString::as_str).collect();
    assert_eq!(texts, ["a, b", "c", "d,e,f"]);
}

#[test]
fn a_quote_never_closed_in_a_list_names_the_item() {
    assert_eq!(
        Vec::<QuotedString>::parse_raw("a, \"b, c").unwrap_err(),
        "list item 2 \"\\\"b\": expected a closing \" at the end of the value"
    );
}

#[test]
fn quoted_strings_round_trip_alone_and_in_lists() {
    for text in ["plain", "a,b", " edge ", "\"quoted\"", "'single", ""] {
        round_trips(QuotedString(text.to_string()));
    }
    let items = vec![
        QuotedString("a,b".into()),
        QuotedString("c".into()),
        QuotedString(" d ".into()),
    ];
    assert_eq!(items.render(), "\"a,b\",c,\" d \"");
    assert_eq!(items.to_json(), serde_json::json!(["a,b", "c", " d "]));
    round_trips(items);
}

#[test]
fn quoted_list_items_pick_the_quote_that_keeps_them_whole() {
    let items = vec![
        QuotedString(String::new()),
        QuotedString("a:\"x,y\",".into()),
        QuotedString("it's, \"ok\"".into()),
        QuotedString(String::new()),
    ];
    assert_eq!(items.render(), "\"\",'a:\"x,y\",',\"it's, \"ok\"\",\"\"");
    round_trips(items);
}

#[test]
fn ip_addresses_are_strict() {
    assert_eq!(
        IpAddr::parse_raw("192.0.2.10"),
        Ok(IpAddr::from([192, 0, 2, 10]))
    );
    assert_eq!(
        IpAddr::parse_raw("::1"),
        Ok(IpAddr::from(Ipv6Addr::LOCALHOST))
    );
    assert!(IpAddr::parse_raw("::ffff:192.0.2.1").is_ok());
    assert_eq!(Ipv4Addr::parse_raw("0.0.0.0"), Ok(Ipv4Addr::UNSPECIFIED));
    assert_eq!(
        Ipv6Addr::parse_raw("2001:db8::1").map(|ip| ip.segments()[0]),
        Ok(0x2001)
    );

    let both = "expected an IPv4 or IPv6 address, such as 192.0.2.10 or 2001:db8::1";
    for bad in [
        "",
        " 1.2.3.4",
        "1.2.3",
        "01.2.3.4",
        "256.1.1.1",
        "fe80::1%eth0",
        "host",
        "[::1]",
    ] {
        assert_eq!(error_of::<IpAddr>(bad), both, "{bad:?}");
    }
    assert_eq!(
        error_of::<Ipv4Addr>("::1"),
        "expected an IPv4 address, such as 192.0.2.10"
    );
    assert_eq!(
        error_of::<Ipv6Addr>("1.2.3.4"),
        "expected an IPv6 address, such as 2001:db8::1"
    );
}

#[test]
fn ip_addresses_round_trip() {
    round_trips(IpAddr::from([10, 0, 0, 1]));
    round_trips(IpAddr::from(Ipv6Addr::LOCALHOST));
    round_trips(Ipv4Addr::BROADCAST);
    round_trips(Ipv6Addr::UNSPECIFIED);
    assert_eq!(IpAddr::KIND, Kind::IpAddress);
}

#[test]
fn host_names_follow_rfc_1123() {
    let name = |raw| Hostname::parse_raw(raw).map(|n| n.as_str().to_string());
    assert_eq!(name("localhost"), Ok("localhost".to_string()));
    assert_eq!(name("db-1.Example.com"), Ok("db-1.Example.com".to_string()));
    assert_eq!(name("example.com."), Ok("example.com".to_string()));
    assert_eq!(name("1-2"), Ok("1-2".to_string()));
    assert_eq!(name("3com.net"), Ok("3com.net".to_string()));
    let longest_label = "a".repeat(63);
    assert_eq!(name(&longest_label), Ok(longest_label.clone()));
    let longest_name = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(61),
    ]
    .join(".");
    assert_eq!(longest_name.len(), 253);
    assert!(name(&longest_name).is_ok());
}

#[test]
fn bad_host_names_say_what_is_wrong() {
    let cases = [
        ("", "the name is empty"),
        ("a..b", "the name has an empty label (two dots in a row?)"),
        (".a", "the name has an empty label (two dots in a row?)"),
        (".", "the name has an empty label (two dots in a row?)"),
        ("-a.com", "label \"-a\" starts or ends with '-'"),
        ("a-.com", "label \"a-\" starts or ends with '-'"),
        (
            "host_1",
            "label \"host_1\" contains '_'; only letters, digits and '-' are allowed",
        ),
        (
            "a b",
            "label \"a b\" contains ' '; only letters, digits and '-' are allowed",
        ),
        (
            "bücher.de",
            "label \"bücher\" contains 'ü'; only letters, digits and '-' are allowed",
        ),
        ("a.123", "the last label \"123\" has no letter"),
        ("123", "the last label \"123\" has no letter"),
    ];
    for (raw, problem) in cases {
        assert_eq!(
            error_of::<Hostname>(raw),
            format!("expected a host name: {problem}"),
            "{raw}"
        );
    }
    let long_label = "a".repeat(64);
    assert_eq!(
        error_of::<Hostname>(&long_label),
        format!("expected a host name: label {long_label:?} is longer than 63 characters")
    );
    let long_name = [
        "a".repeat(63),
        "b".repeat(63),
        "c".repeat(63),
        "d".repeat(62),
    ]
    .join(".");
    assert_eq!(
        error_of::<Hostname>(&long_name),
        "expected a host name: the name is longer than 253 characters"
    );
}

#[test]
fn host_addresses_are_ips_or_names() {
    let ip = HostAddress::parse_raw("192.0.2.1").unwrap();
    assert_eq!(ip, HostAddress::Ip(IpAddr::from([192, 0, 2, 1])));
    let v6 = HostAddress::parse_raw("2001:db8::5").unwrap();
    assert!(matches!(v6, HostAddress::Ip(IpAddr::V6(_))));
    let name = HostAddress::parse_raw("rabbit.internal.").unwrap();
    assert_eq!(name.to_string(), "rabbit.internal");
    assert!(matches!(name, HostAddress::Name(_)));
}

#[test]
fn a_mistyped_ip_is_not_taken_for_a_name() {
    let cases = [
        ("10.0.0.300", "the last label \"300\" has no letter"),
        ("1.2.3", "the last label \"3\" has no letter"),
        ("01.2.3.4", "the last label \"4\" has no letter"),
        (
            "fe80::1%eth0",
            "label \"fe80::1%eth0\" contains ':'; only letters, digits and '-' are allowed",
        ),
        ("", "the name is empty"),
    ];
    for (raw, problem) in cases {
        let expected = format!("expected an IP address or a host name: {problem}");
        assert_eq!(error_of::<HostAddress>(raw), expected, "{raw}");
    }
}

#[test]
fn host_domains_also_allow_underscores() {
    let domain = HostDomain::parse_raw("_sip._tcp.example.com").unwrap();
    assert_eq!(
        domain,
        HostDomain::Name("_sip._tcp.example.com".to_string())
    );
    assert_eq!(
        HostDomain::parse_raw("::1"),
        Ok(HostDomain::Ip(IpAddr::from(Ipv6Addr::LOCALHOST)))
    );
    assert_eq!(
        error_of::<HostDomain>("a_.b-"),
        "expected an IP address or a domain name: label \"b-\" starts or ends with '-'"
    );
    assert_eq!(
        error_of::<HostDomain>("a.b c"),
        "expected an IP address or a domain name: \
         label \"b c\" contains ' '; only letters, digits, '-' and '_' are allowed"
    );
    assert_eq!(
        error_of::<HostDomain>("a._1"),
        "expected an IP address or a domain name: the last label \"_1\" has no letter"
    );
}

#[test]
fn host_kinds_round_trip() {
    round_trips(HostAddress::parse_raw("db.example").unwrap());
    round_trips(HostAddress::parse_raw("::1").unwrap());
    round_trips(HostDomain::parse_raw("_srv.example").unwrap());
    round_trips(Hostname::parse_raw("Example.COM").unwrap());
}

#[test]
fn uris_need_a_scheme_and_a_host() {
    let uri = Uri::parse_raw("mysql+pymysql://nova:secret@db.example/nova?charset=utf8").unwrap();
    assert_eq!(uri.scheme(), "mysql+pymysql");
    assert_eq!(uri.host(), "db.example");
    assert_eq!(
        Uri::parse_raw("amqp://guest:guest@localhost:5672//")
            .unwrap()
            .host(),
        "localhost"
    );
    assert_eq!(Uri::parse_raw("http://[::1]:80/").unwrap().host(), "[::1]");
    assert_eq!(Uri::parse_raw("HTTP://H").unwrap().scheme(), "HTTP");
    assert_eq!(
        Uri::parse_raw("http://10.0.0.1/").unwrap().host(),
        "10.0.0.1"
    );

    let no_scheme = "expected a URI with a scheme, such as https://host/";
    assert_eq!(error_of::<Uri>("example.com"), no_scheme);
    assert_eq!(error_of::<Uri>("//example.com/x"), no_scheme);
    let no_host = "expected a URI with a host, such as scheme://host/";
    for bad in [
        "http://",
        "file:///etc/hosts",
        "mailto:ops@example.com",
        "http://:80/",
    ] {
        assert_eq!(error_of::<Uri>(bad), no_host, "{bad}");
    }
    assert_eq!(
        error_of::<Uri>("http://1.2.3.999/"),
        "expected a URI with a valid host: \"1.2.3.999\" is not an IPv4 address"
    );
}

#[test]
fn uris_must_be_valid_rfc_3986() {
    for bad in [
        "http://ex ample.com",
        "http://h/a b",
        " http://h",
        "http://h/%zz",
        "http://[::1",
    ] {
        let error = error_of::<Uri>(bad);
        assert!(
            error.starts_with("expected a URI (RFC 3986): "),
            "{bad}: {error}"
        );
    }
    assert_eq!(
        error_of::<Uri>("http://h/a b"),
        "expected a URI (RFC 3986): unexpected character at index 10 (\" b\" onwards)"
    );
}

#[test]
fn uris_keep_their_text() {
    let text = "https://Keystone.Example:5000/v3/";
    let uri = Uri::parse_raw(text).unwrap();
    assert_eq!(uri.render(), text);
    assert_eq!(uri.to_json(), serde_json::json!(text));
    round_trips(uri);
}

#[test]
fn dicts_split_pairs_at_the_first_colon() {
    let dict = Dict::<String>::parse_raw(" a : x:y , b:2").unwrap();
    assert_eq!(dict.get("a").map(String::as_str), Some("x:y"));
    assert_eq!(dict["b"], "2");
    assert_eq!(dict.len(), 2);
    assert_eq!(Dict::<String>::parse_raw("a:").unwrap()["a"], "");
}

#[test]
fn an_empty_dict_value_is_an_empty_map() {
    assert!(Dict::<String>::parse_raw("").unwrap().is_empty());
    assert!(Dict::<String>::parse_raw("   ").unwrap().is_empty());
}

#[test]
fn bad_dicts_name_the_pair() {
    let cases = [
        (
            "a:1,b,c:2",
            "pair \"b\" has no ':': expected key:value pairs separated by ','",
        ),
        (
            "a:1,",
            "pair \"\" has no ':': expected key:value pairs separated by ','",
        ),
        (
            "a",
            "pair \"a\" has no ':': expected key:value pairs separated by ','",
        ),
        (":1", "pair \":1\" has an empty key: expected key:value"),
        (" : 1", "pair \": 1\" has an empty key: expected key:value"),
        ("a:1,a:2", "duplicate key \"a\": expected each key once"),
    ];
    for (raw, expected) in cases {
        assert_eq!(error_of::<Dict>(raw), expected, "{raw}");
    }
}

#[test]
fn typed_dict_values_are_checked() {
    let ports = Dict::<Port>::parse_raw("http:80, https:443").unwrap();
    assert_eq!(ports["https"], Port(443));
    assert_eq!(
        error_of::<Dict<Port>>("http:80,https:web"),
        format!("the value of key \"https\": {PORT_EXPECTED}")
    );
    assert_eq!(
        error_of::<Dict<Port>>("http:"),
        format!("the value of key \"http\" is empty: {PORT_EXPECTED}")
    );
}

#[test]
fn quoted_dict_values_may_contain_commas() {
    let dict = Dict::<QuotedString>::parse_raw("a:\"x,y\", b:z").unwrap();
    assert_eq!(dict["a"].as_str(), "x,y");
    assert_eq!(dict["b"].as_str(), "z");
}

#[test]
fn dicts_render_sorted_and_round_trip() {
    let dict = Dict::<String>::parse_raw("zeta:1, alpha:2").unwrap();
    assert_eq!(dict.render(), "alpha:2,zeta:1");
    assert_eq!(
        dict.to_json(),
        serde_json::json!({"alpha": "2", "zeta": "1"})
    );
    round_trips(dict);
    round_trips(Dict::<String>::default());
    round_trips(Dict::<Port>::parse_raw("a:1,b:2").unwrap());
    round_trips(Dict::<QuotedString>::parse_raw("a:\"x,y\"").unwrap());
}

#[test]
fn durations_are_seconds() {
    let parse = |raw| Duration::parse_raw(raw);
    assert_eq!(parse("30"), Ok(Duration::from_secs(30)));
    assert_eq!(parse(" 0.5 "), Ok(Duration::from_millis(500)));
    assert_eq!(parse("0.1"), Ok(Duration::from_millis(100)));
    assert_eq!(parse(".25"), Ok(Duration::from_millis(250)));
    assert_eq!(parse("2."), Ok(Duration::from_secs(2)));
    assert_eq!(parse("0"), Ok(Duration::ZERO));
    assert_eq!(parse("-0"), Ok(Duration::ZERO));
    assert_eq!(parse("1e3"), Ok(Duration::from_secs(1000)));
    assert_eq!(parse("1_000"), Ok(Duration::from_secs(1000)));
    assert_eq!(parse("0.000000001"), Ok(Duration::from_nanos(1)));
    assert!(Duration::empty_means_unset());
}

#[test]
fn bad_durations_say_what_is_expected() {
    let expected = "expected a non-negative number of seconds, such as 30 or 0.5";
    for bad in [
        "-1", "-0.5", "10s", "1m", "inf", "nan", "", ".", "1_", "0x10",
    ] {
        assert_eq!(error_of::<Duration>(bad), expected, "{bad:?}");
    }
    assert_eq!(
        error_of::<Duration>("1e30"),
        format!("expected a number of seconds up to {}", u64::MAX)
    );
}

#[test]
fn durations_render_exactly_and_round_trip() {
    assert_eq!(Duration::from_secs(30).render(), "30");
    assert_eq!(Duration::from_millis(1500).render(), "1.5");
    assert_eq!(Duration::from_nanos(1).render(), "0.000000001");
    assert_eq!(Duration::from_secs(30).to_json(), serde_json::json!(30));
    assert_eq!(
        Duration::from_millis(1500).to_json(),
        serde_json::json!(1.5)
    );
    assert_eq!(Duration::from_millis(1500).as_number(), Some(1.5));
    for value in [
        Duration::ZERO,
        Duration::from_nanos(123_456_789),
        Duration::MAX,
    ] {
        round_trips(value);
    }
}

crate::option_choices! {
    /// A test enum with a default.
    #[derive(Default)]
    enum Flavour {
        /// The first one.
        #[default]
        Vanilla = "vanilla",
        Chocolate = "chocolate",
        TwoWords = "two-words",
    }
}

#[test]
fn choices_parse_exact_spellings() {
    assert_eq!(Flavour::parse_raw("vanilla"), Ok(Flavour::Vanilla));
    assert_eq!(Flavour::parse_raw("two-words"), Ok(Flavour::TwoWords));
    assert_eq!(Flavour::default(), Flavour::Vanilla);
    assert_eq!(Flavour::KIND, Kind::Choice);
    assert_eq!(
        Flavour::choices(),
        Some(&["vanilla", "chocolate", "two-words"][..])
    );
}

#[test]
fn other_spellings_list_the_choices() {
    let expected = "expected one of: vanilla, chocolate, two-words";
    for bad in ["Vanilla", " vanilla", "mint", ""] {
        assert_eq!(error_of::<Flavour>(bad), expected, "{bad:?}");
    }
}

#[test]
fn choices_render_their_spelling_and_round_trip() {
    assert_eq!(Flavour::TwoWords.render(), "two-words");
    assert_eq!(Flavour::Chocolate.to_string(), "chocolate");
    assert_eq!(Flavour::Chocolate.to_json(), serde_json::json!("chocolate"));
    for flavour in [Flavour::Vanilla, Flavour::Chocolate, Flavour::TwoWords] {
        round_trips(flavour);
    }
    let list = Vec::<Flavour>::parse_raw("vanilla, two-words").unwrap();
    assert_eq!(list, [Flavour::Vanilla, Flavour::TwoWords]);
}
