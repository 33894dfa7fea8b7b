"""Every network exchange mlenv makes: where a URL may lead and whom it may reach (``origins``),
names resolved under a deadline (``dns``), the proxy route (``proxy``), TLS trust (``tls``), and
one exchange under one deadline (``exchange``), with their failures put in words."""
