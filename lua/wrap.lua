-- Errors raised by lvs functions (written in Rust) become plain Lua strings with the caller's
-- position, as Lua's own errors are: pcall users get "script.lua:12: service already exists:
-- TCP 192.0.2.110:80", not an error object carrying a Rust-side traceback.
local lvs, describe = ...

local function wrap(f)
  return function(...)
    local r = table.pack(pcall(f, ...))
    if not r[1] then
      local e = r[2]
      if type(e) == "string" then error(e, 0) end
      error(describe(e), 2)
    end
    return table.unpack(r, 2, r.n)
  end
end

-- lvsh runs this right after registering the functions written in Rust and before any Lua
-- file adds its own (those raise their errors the Lua way already): every function in the
-- table now is Rust's, so none needs telling apart (an async one is a Lua chunk of mlua's).
local function wrap_all(t)
  for k, v in pairs(t) do
    if type(v) == "function" then
      t[k] = wrap(v)
    elseif type(v) == "table" and getmetatable(v) == nil then
      wrap_all(v)
    end
  end
end

wrap_all(lvs)
return wrap_all
