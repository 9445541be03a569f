-- Errors raised by lvs functions (written in Rust) become plain Lua strings with the caller's
-- position, as Lua's own errors are: pcall users get "script.lua:12: service already exists:
-- TCP 192.0.2.110:80", not an error object carrying a Rust-side traceback.
local lvs, describe = ...

local function wrap(name, f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if not r[1] then
      local e = r[2]
      if type(e) ~= "string" then e = describe(e) end
      error(e, 2)
    end
    return table.unpack(r, 2, r.n)
  end
end

local function wrap_all(t, prefix)
  for k, v in pairs(t) do
    if type(v) == "function" then
      t[k] = wrap(prefix .. k, v)
    end
  end
end

wrap_all(lvs, "lvs.")
return wrap_all
