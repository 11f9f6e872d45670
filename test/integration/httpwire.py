"""httpwire.py: the response-head parsing shared by the integration tests'
raw-socket clients (support.read_response and loadgen.read_response), which
differ only in how they report a connection that closes early."""


def parse_head(head):
    """Parse a response head (bytes before the blank line) into
    (status, headers) with lower-case header names."""
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return status, headers
