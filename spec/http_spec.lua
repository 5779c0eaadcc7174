local http = require "mnist.http"

describe("http helpers", function()
  it("quotes any string for /bin/sh", function()
    for _, s in ipairs{ "plain", "it's", "a b\tc", "$(rm -rf x)`y`", "'", "" } do
      local p = io.popen("printf '%s' " .. http.shell_quote(s))
      assert.equal(s, p:read("*a"))
      p:close()
    end
  end)

  it("percent-encodes all but unreserved characters", function()
    assert.equal("a-b_c.d~e%20f%2Fg", http.encode("a-b_c.d~e f/g"))
    assert.equal("p/0.1.0/x%2By", http.encode("p/0.1.0/x+y", true))
  end)

  it("finds the host of a URL", function()
    assert.equal("127.0.0.1", http.host("http://127.0.0.1:8080/b/k"))
    assert.equal("s3.amazonaws.com", http.host("https://user@s3.amazonaws.com"))
    assert.equal("::1", http.host("http://[::1]:9000/x"))
    assert.is_nil(http.host("not a url"))
  end)

  it("reports a connection failure with curl's reason, after the retries", function()
    local res = http.request{ url = "http://127.0.0.1:1/x", retries = 2, backoff = 0.01, timeout = 5 }
    assert.is_false(http.ok(res))
    assert.equal(0, res.status)
    assert.equal(7, res.curl_code)
    assert.equal(2, res.attempts)
    assert.matches("^Failed to connect to 127.0.0.1 port 1.* %(after 2 attempts%)$", http.describe(res))
  end)

  it("retries only transient failures", function()
    assert.is_false(http.is_transient{ curl_code = 0, status = 404 })
    assert.is_false(http.is_transient{ curl_code = 0, status = 403 })
    assert.is_true(http.is_transient{ curl_code = 0, status = 503 })
    assert.is_true(http.is_transient{ curl_code = 28, status = 0 })
  end)
end)
