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

-- Only the functions written in Rust (async ones run through mlua's poll loop, a Lua chunk
-- of its own): the Lua ones raise their errors the Lua way already.
local function is_rust(f)
  local info = debug.getinfo(f, "S")
  return info.what == "C" or info.source:find("__mlua_async_poll", 1, true) ~= nil
end

local function wrap_all(t)
  for k, v in pairs(t) do
    if type(v) == "function" and is_rust(v) then
      t[k] = wrap(v)
    elseif type(v) == "table" and getmetatable(v) == nil then
      wrap_all(v)
    end
  end
end

wrap_all(lvs)
return wrap_all
