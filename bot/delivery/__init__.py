"""Step delivery: cart, order and product events from the EC site, the scenario file, the
engine that plans, claims and sends the timed Flex messages, click tracking, and the
`flask deliveries` commands."""
