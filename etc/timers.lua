-- streamgate timer rules: which programmes to record.
--
-- Use it with
--
--     timers = { script = "/etc/streamgate/timers.lua"; };
--
-- in streamgate.conf. After every EPG update streamgate calls match(p) (at
-- the end of this file) for each programme that has ended and is not
-- recorded yet; match returns nil (do not record) or a table
--
--     { record = true, vo = bool|nil, mp4 = bool|nil, keep = N|nil,
--       folder = "rel/path"|nil, rule = "name"|nil }
--
-- (vo: the second audio track as the main one; mp4: MP4 instead of
-- Matroska; nil means the recordings { } settings apply. keep = N keeps only
-- the newest N recordings made by the rule with the same `rule` name.)
--
-- The script runs in a sandbox: only the base, string, table, math and utf8
-- libraries, plus
--
--     sg.re(pattern, s)  POSIX extended regex, case-insensitive, matches
--                        anywhere in s (anchor with ^)
--     sg.fold(s)         s case-folded, accents removed ("Fútbol Ñ" -> "futbol n")
--     sg.localtime(t)    {year, month, day, hour, min, sec, weekday (1 = Monday),
--                        yday, isdst} in streamgate's time zone
--     sg.weekday(t)      1 (Monday) .. 7 (Sunday)
--     sg.log(...)        a line in streamgate's log
--
-- `streamgate -t` checks this file; SIGHUP reloads it.
--
-- This file has two parts: the rules, as data (the `timers` table between
-- the BEGIN TIMERS and END TIMERS lines), in the format of movistar-u7d's
-- timers.conf, and the engine that applies them. If you come from
-- movistar-u7d,
--
--     streamgate timers-import /path/to/timers.conf > timers.lua
--
-- prints this file with your timers.conf (TOML or JSON) as the data part.
--
-- The data: timers.match maps a channel id (a string: the channel's id in
-- streamgate, e.g. Movistar's service id) to a list of entries
--
--     "<regex>[ ## <option>[ ## <option>]]"
--
--   * <regex> is a (Python-style) regular expression matched at the START of
--     the programme's title, and of its series name if it has one, ignoring
--     case and accents: "Telediario" matches "TELEDIARIO 2" but not
--     "Especial Telediario"; "Días de cine" matches "Dias de Cine". Write
--     ".*" to record everything on a channel. \d \D \s \S \w \W are
--     understood (rewritten to POSIX classes), (?i) is dropped, (?:...) is a
--     plain group; look-arounds and (?x) are not supported.
--   * options, after " ## " (order does not matter, the last one of a kind
--     wins):
--       HH:MM    only programmes starting within 15 minutes of HH:MM (local
--                time), e.g. "Telediario ## 21:00" for the evening edition
--       Keep<N>  keep only the newest N recordings of this entry (Keep3; the
--                entry's rule name is "<channel>:<regex>")
--       VO       record with the original version (2nd audio track) first
--       Esp      (or any other word) record with the Spanish track first
--       @XXXXX-- only on the days marked X, Monday to Sunday (here Mon-Fri)
--     movistar-u7d's ComSkip, ComSkipCut, NoComSkip, Fresh, Repeat, Delay
--     and Genre<N> options, and Keep<N>d (days), are accepted and ignored.
--
-- timers.default_language = "VO" makes VO the default of entries with no
-- language option; "Esp" makes Spanish the default; nil (or leaving it out):
-- the recordings { vo = ...; } setting applies.
--
-- A bad entry is logged and skipped; the others still work.

-- BEGIN TIMERS
-- (The channel ids below are examples: use your channels' ids.)
local timers = {
  default_language = "Esp",
  match = {
    -- La 1
    ["1"] = {
      "Telediario 2 ## 21:00",      -- the evening edition only (20:45 .. 21:15)
      "Informe semanal ## Keep4",   -- the last four weeks
      "Cine: ",                     -- "Cine: <film>" (a plain prefix)
    },
    -- La 2
    ["2"] = {
      "Documentos TV",
      "Días de cine",               -- accents and case do not matter
    },
    -- Telecinco
    ["3"] = {
      "Informativos Telecinco ## 21:00 ## Keep2",
    },
    -- Antena 3
    ["4"] = {
      "El hormiguero",
      "Cap[ií]tulo \\d+",           -- \d: a digit (\\ in a Lua string)
    },
    -- Cuatro
    ["5"] = {
      "Cuarto milenio ## Keep5",
    },
    -- Movistar Plus+
    ["657"] = {
      "Friends ## VO ## Keep3",     -- original version, the newest three
      "(The )?Big Bang ## VO",
      "Fútbol: (LaLiga|Champions)",
    },
  },
}
-- END TIMERS

-- Your own rules, in Lua. custom(p) runs for the programmes the timers above
-- did not take; return a table as described at the top to record p, nil not
-- to. p has: channel (the id string), channel_name, title, series ("" if
-- none), season, episode (0: unknown), episode_title, start (Unix seconds),
-- duration (seconds), genre, description, is_series. Some examples (remove
-- the leading "--" to use them). To let custom() decide first, swap the two
-- calls in match() at the end of this file.
local function custom(p)
  -- Every film La 2 shows on Sunday evenings, in their own folder:
  --
  -- if p.channel == "2" and sg.weekday(p.start) == 7
  --    and sg.localtime(p.start).hour >= 21 and sg.re("^cine", sg.fold(p.genre)) then
  --   return { record = true, folder = "Cine/La 2", rule = "la2-domingo" }
  -- end
  --
  -- Any documentary about volcanoes on any channel, as MP4:
  --
  -- if sg.re("documental", sg.fold(p.genre)) and sg.re("volcan", sg.fold(p.description)) then
  --   return { record = true, mp4 = true, folder = "Documentales" }
  -- end
  --
  -- A series by name, one folder per season, only what airs Monday to Friday,
  -- the newest ten kept:
  --
  -- if p.is_series and sg.fold(p.series) == "el ministerio del tiempo"
  --    and sg.weekday(p.start) <= 5 then
  --   return { record = true, folder = ("Series/%s/Temporada %d"):format(p.series, p.season),
  --            rule = "ministerio", keep = 10 }
  -- end
  return nil
end

--------------------------------------------------------------------------------
-- The engine: no need to change anything below.
--------------------------------------------------------------------------------

local WINDOW = 15 * 60 -- "## HH:MM" accepts starts within this many seconds
local DAY = 24 * 3600
local RULE_MAX = 127   -- bytes of a rule name (streamgate's limit)
-- true: an entry matches at the start of the title only. movistar-u7d itself
-- searches the whole title (re.search); set false to do the same, or start
-- the entries that should match anywhere with ".*".
local ANCHORED = true

-- Characters with a meaning in a POSIX extended regex (escaped as literals).
local SPECIAL = {}
for c in ([[.[()*+?{|^$\]]):gmatch(".") do SPECIAL[c] = true end
-- Characters that make an entry a regex rather than a plain prefix.
local PYMETA = "[%.%^%$%*%+%?{}%[%]\\|()]"

-- The UTF-8 character at byte i of s (a lone byte when it is not UTF-8).
local function char_at(s, i)
  local c, n = s:byte(i), 1
  if c >= 0xC0 then
    while n < 4 do
      local d = s:byte(i + n)
      if d == nil or d < 0x80 or d > 0xBF then break end
      n = n + 1
    end
  end
  return s:sub(i, i + n - 1)
end

local function fold_char(ch)
  if #ch == 1 and ch:byte() < 0x80 then return (ch:lower()) end
  return sg.fold(ch)
end

-- The Python escape \<e> (i: the index of e in pat): returns kind, value,
-- next index. kind: "char" (a literal character), "class" (a bracket
-- expression body: "0-9"), "nclass" (its complement), "raw" (regex text
-- used as is), or nil and an error.
local CLASSES = { d = "0-9", s = "[:space:]", w = "[:alnum:]_" }
local CONTROL = { n = "\n", t = "\t", r = "\r", f = "\f", v = "\v", a = "\a" }
local function escape(pat, i, in_bracket)
  local e = pat:sub(i, i)
  if e == "" then return nil, "a trailing backslash" end
  if CLASSES[e] then return "class", CLASSES[e], i + 1 end
  if CLASSES[e:lower()] then return "nclass", CLASSES[e:lower()], i + 1 end
  if CONTROL[e] then return "char", CONTROL[e], i + 1 end
  if e == "x" or e == "u" or e == "U" then
    local len = ({ x = 2, u = 4, U = 8 })[e]
    local hex = pat:sub(i + 1, i + len)
    if #hex ~= len or hex:find("%X") then return nil, "a bad \\" .. e .. " escape" end
    local cp = tonumber(hex, 16)
    if cp > 0x10FFFF or cp == 0 then return nil, "a bad \\" .. e .. " escape" end
    return "char", utf8.char(cp), i + 1 + len
  end
  if in_bracket then
    if e == "b" then return "char", "\b", i + 1 end
  else
    if e == "A" then return "raw", "^", i + 1 end
    if e == "Z" then return "raw", "$", i + 1 end
    if e == "b" or e == "B" then return "raw", "\\" .. e, i + 1 end -- word boundaries (glibc)
    if e:find("^[1-9]$") then return "raw", "\\" .. e, i + 1 end    -- back-references
  end
  if e:find("^%w$") then return nil, "the escape \\" .. e .. " is not supported" end
  local ch = char_at(pat, i)
  return "char", ch, i + #ch
end

-- A Python [...] set starting at pat[i] as a POSIX bracket expression.
-- Returns the text and the next index, or nil and an error.
local function bracket(pat, i)
  local n, j, neg, items = #pat, i + 1, false, {}
  if pat:sub(j, j) == "^" then neg, j = true, j + 1 end
  local function element(k)
    if k > n then return nil, "an unterminated [" end
    local c = pat:sub(k, k)
    if c == "\\" then return escape(pat, k + 1, true) end
    local ch = char_at(pat, k)
    return "char", ch, k + #ch
  end
  local first = true
  while true do
    if j > n then return nil, "an unterminated [" end
    if pat:sub(j, j) == "]" and not first then j = j + 1; break end
    local kind, v, nj = element(j)
    if kind == nil then return nil, v end
    if kind == "raw" then return nil, "an unsupported escape in [...]" end
    if kind == "char" and pat:sub(nj, nj) == "-" and nj + 1 <= n and pat:sub(nj + 1, nj + 1) ~= "]" then
      local kind2, v2, nj2 = element(nj + 1)
      if kind2 == nil then return nil, v2 end
      if kind2 ~= "char" then return nil, "a range to a class in [...]" end
      for _, ep in ipairs({ v, v2 }) do
        if ep == "]" or ep == "[" or ep == "-" or ep == "^" then
          return nil, "a range starting or ending with " .. ep .. " is not supported"
        end
      end
      items[#items + 1] = { "range", v .. "-" .. v2 }
      j = nj2
    else
      items[#items + 1] = { kind, v }
      j = nj
    end
    first = false
  end
  -- [\D] and [^\D]: the complement of one class
  if #items == 1 and items[1][1] == "nclass" then
    return "[" .. (neg and "" or "^") .. items[1][2] .. "]", j
  end
  local body, rb, caret, lb, dash = {}, false, false, false, false
  for _, it in ipairs(items) do
    local kind, v = it[1], it[2]
    if kind == "nclass" then
      return nil, "\\D, \\S or \\W inside [...] with other characters is not supported"
    elseif kind == "char" then
      local f, k = fold_char(v), 1
      while k <= #f do
        local ch = char_at(f, k)
        k = k + #ch
        if ch == "]" then rb = true
        elseif ch == "^" then caret = true
        elseif ch == "[" then lb = true
        elseif ch == "-" then dash = true
        else body[#body + 1] = ch end
      end
    else -- "range" (not folded: REG_ICASE takes care of case) or "class"
      body[#body + 1] = v
    end
  end
  -- POSIX: ] only first, ^ anywhere but first, - last, [ never before : . =
  local parts = {}
  if rb then parts[1] = "]" end
  for _, b in ipairs(body) do parts[#parts + 1] = b end
  if caret and #parts == 0 and not neg then
    if lb then parts[1], lb = "[", false
    elseif dash then parts[1], dash = "-", false
    else return "\\^", j end
  end
  if caret then parts[#parts + 1] = "^" end
  if lb then parts[#parts + 1] = "[" end
  if dash then parts[#parts + 1] = "-" end
  if #parts == 0 then return nil, "an empty [...]" end
  return "[" .. (neg and "^" or "") .. table.concat(parts) .. "]", j
end

-- The rewriting (Python -> POSIX ERE):
--   \d \D \s \S \w \W      [0-9] [^0-9] [[:space:]] [^[:space:]] [[:alnum:]_] [^[:alnum:]_]
--   inside [...]: \d \s \w add 0-9, [:space:], [:alnum:]_; [\D] alone is [^0-9]
--     (\D \S \W with other characters in a set: not supported); \] \\ \- \^
--     and ] first, ^ not first, - last are placed where POSIX wants them
--   (?i) (?aiLmsu) flags    dropped (we always ignore case; titles are one line)
--   (?:...) (?i:...) (?P<name>...)   (...)
--   \A \Z                  ^ $
--   \b \B \1..\9           kept (glibc regex)
--   \n \t \r \f \v \a \xHH \uHHHH \UHHHHHHHH   the character
--   \. \( \+ ...           kept; \ before other punctuation: the character
--   *? +? ?? {m,n}? *+     the quantifier (laziness does not change whether a
--                          title matches); {,n} -> {0,n}; a { that starts no
--                          quantifier is a literal {
-- Not supported (the entry is logged and skipped): look-arounds (?= (?! (?<=
-- (?<!, (?P=name), (?#...), (?(...)...), (?x), \N{...}, \0 and octal
-- escapes, \ before any other letter or digit, ranges ending in ] [ - ^.
-- Ranges like [à-ú] are not folded (titles are: write them without accents).
-- A Python regex as a POSIX extended regex, with its literal characters
-- folded like sg.fold folds the titles, and the literal text every match
-- starts with ("" if none; match() compares it before running the regex).
-- nil and an error if it cannot be.
local function convert(pat)
  local out, n, i = {}, #pat, 1
  local multi = false -- the last piece is a literal folded into several characters
  local prefix, open, depth, alt = {}, true, 0, false
  local function put(s, m, lit)
    out[#out + 1] = s
    multi = m or false
    if lit and open then prefix[#prefix + 1] = s
    elseif not (s == "^" and #out == 1) then open = false end
  end
  local function literal(ch)
    if SPECIAL[ch] then return put("\\" .. ch) end
    local f = fold_char(ch)
    if f ~= "" then put(f, utf8.len(f) ~= 1, true) end
  end
  local function quantifier(q)
    if multi then out[#out] = "(" .. out[#out] .. ")" end
    if open then prefix[#prefix] = nil end -- the last literal is optional
    put(q)
    -- lazy (*?) and possessive (*+) quantifiers match the same titles
    local nx = pat:sub(i, i)
    if nx == "?" or nx == "+" then i = i + 1 end
  end
  while i <= n do
    local c = pat:sub(i, i)
    if c == "\\" then
      local kind, v, ni = escape(pat, i + 1, false)
      if kind == nil then return nil, v end
      if kind == "char" then literal(v)
      elseif kind == "class" then put("[" .. v .. "]")
      elseif kind == "nclass" then put("[^" .. v .. "]")
      else put(v) end
      i = ni
    elseif c == "[" then
      local b, ni = bracket(pat, i)
      if b == nil then return nil, ni end
      put(b)
      i = ni
    elseif c == "(" and pat:sub(i + 1, i + 1) == "?" then
      local flags, close = pat:match("^%(%?([aiLmsu%-]*)([:)])", i)
      local name = pat:match("^%(%?P<[%w_]+>", i)
      if flags and close == ")" then
        i = i + 3 + #flags -- (?i): we always ignore case
      elseif flags then
        put("(")
        depth = depth + 1
        i = i + 3 + #flags
      elseif name then
        put("(")
        depth = depth + 1
        i = i + #name
      else
        return nil, "the group " .. pat:sub(i, i + 2) .. "...) is not supported"
      end
    elseif c == "*" or c == "+" or c == "?" then
      i = i + 1
      quantifier(c)
    elseif c == "{" then
      local q = pat:match("^{%d*,?%d*}", i)
      if q and q ~= "{}" and q ~= "{,}" then
        i = i + #q
        if q:sub(2, 2) == "," then q = "{0" .. q:sub(2) end
        quantifier(q)
      else
        put("\\{")
        i = i + 1
      end
    elseif c == "(" or c == ")" or c == "|" or c == "^" or c == "$" or c == "." then
      if c == "(" then depth = depth + 1 elseif c == ")" then depth = depth - 1 end
      if c == "|" and depth <= 0 then alt = true end
      put(c)
      i = i + 1
    else
      local ch = char_at(pat, i)
      literal(ch)
      i = i + #ch
    end
  end
  return table.concat(out), alt and "" or table.concat(prefix)
end

-- A readable one-line quote of s for the log.
local function quote(s)
  return (("%q"):format(s):gsub("\\\n", "\\n"))
end

-- The rule name of an entry: "<channel>:<pattern>", shortened with a hash
-- when longer than streamgate takes.
local function rule_name(channel, pattern)
  local r = channel .. ":" .. pattern
  if #r <= RULE_MAX then return r end
  local h = 2166136261
  for k = 1, #r do h = ((h ~ r:byte(k)) * 16777619) & 0xFFFFFFFF end
  local cut = RULE_MAX - 9
  while cut > 1 and (r:byte(cut + 1) or 0) & 0xC0 == 0x80 do cut = cut - 1 end
  return r:sub(1, cut) .. ("~%08x"):format(h)
end

-- movistar-u7d options streamgate has no use for (Delay*, Genre* too).
local IGNORED = { comskip = true, comskipcut = true, nocomskip = true, fresh = true,
                  ["repeat"] = true }

-- An entry as the engine uses it, or nil and why it is bad.
local function compile(channel, text, deflang)
  if type(text) ~= "string" then return nil, "not a string" end
  local parts, k = {}, 1
  while true do
    local a, b = text:find(" ## ", k, true)
    if a == nil then parts[#parts + 1] = text:sub(k); break end
    parts[#parts + 1] = text:sub(k, a - 1)
    k = b + 1
  end
  local pattern = parts[1]
  local e = { text = text, rule = rule_name(channel, pattern) }
  local lang = deflang
  for x = 2, #parts do
    local o = parts[x]:match("^%s*(.-)%s*$")
    local lo = o:lower()
    if o == "" then
      return nil, "an empty option"
    elseif o:find("^%d") then
      local h, m = o:match("^(%d%d?):(%d%d)$")
      h, m = tonumber(h), tonumber(m)
      if h == nil or h > 23 or m > 59 then return nil, "the time " .. quote(o) .. " is not HH:MM" end
      e.at = h * 3600 + m * 60
    elseif o:sub(1, 1) == "@" then
      -- movistar-u7d's weekday mask: "@XXXXX--" = Monday to Friday
      e.days = {}
      for d = 1, 7 do e.days[d] = o:sub(d + 1, d + 1):lower() == "x" end
    elseif lo:find("^keep") then
      local nk = tonumber(lo:match("^keep%s*(%d%d?%d?%d?%d?%d?)$"))
      if nk == nil and not lo:find("^keep%s*%d+d$") then
        return nil, quote(o) .. " is not Keep<N> (N from 1)"
      end
      if nk == 0 then return nil, quote(o) .. " is not Keep<N> (N from 1)" end
      e.keep = nk -- nil for Keep<N>d (days): not supported, all are kept
    elseif IGNORED[lo] or lo:find("^delay") or lo:find("^genre") then
      -- other movistar-u7d options (commercial detection, ...): ignored
    else
      lang = o
    end
  end
  if lang ~= nil then e.vo = tostring(lang):upper() == "VO" end
  if pattern == "" then return nil, 'an empty pattern (".*" records everything)' end
  if not pattern:find(PYMETA) then
    e.prefix = sg.fold(pattern) -- a plain title: compared, no regex needed
  else
    local re, why = convert(pattern)
    if re == nil then return nil, why end
    if why ~= "" then e.lit = why end
    e.re = ANCHORED and "^(" .. re .. ")" or re
    local ok, err = pcall(sg.re, e.re, "")
    if not ok then return nil, tostring(err) end
  end
  return e
end

local rules, total, bad = {}, 0, 0
for channel, list in pairs(timers.match or {}) do
  channel = tostring(channel)
  local compiled = {}
  if type(list) == "string" then list = { list } end
  for _, text in ipairs(type(list) == "table" and list or {}) do
    total = total + 1
    local e, why = compile(channel, text, timers.default_language)
    if e then
      compiled[#compiled + 1] = e
      compiled.has_time = compiled.has_time or e.at ~= nil or e.days ~= nil
    else
      bad = bad + 1
      sg.log(("timers: channel %s: skipping %s: %s"):format(channel,
             quote(tostring(text)), why))
    end
  end
  if #compiled > 0 then rules[channel] = compiled end
end
if bad > 0 then sg.log(("timers: %d of %d entries skipped"):format(bad, total)) end

-- Does entry e take the programme (its folded title and series, its local
-- start time of day)?
local function takes(e, title, series, tod, wday)
  if e.days and not e.days[wday] then return false end
  if e.at then
    local d = math.abs(tod - e.at) % DAY
    if math.min(d, DAY - d) > WINDOW then return false end
  end
  if e.prefix then
    local n = #e.prefix
    if not ANCHORED then
      return title:find(e.prefix, 1, true) ~= nil or series:find(e.prefix, 1, true) ~= nil
    end
    return title:sub(1, n) == e.prefix or (series ~= "" and series:sub(1, n) == e.prefix)
  end
  if e.lit then -- the regex cannot match without its literal start
    local n = #e.lit
    if ANCHORED then
      if title:sub(1, n) ~= e.lit and (series == "" or series:sub(1, n) ~= e.lit) then
        return false
      end
    elseif not title:find(e.lit, 1, true) and not series:find(e.lit, 1, true) then
      return false
    end
  end
  return sg.re(e.re, title) or (series ~= "" and sg.re(e.re, series))
end

local function match_timers(p)
  local list = rules[p.channel]
  if list == nil then return nil end
  local title = sg.fold(p.title)
  local series = p.series ~= "" and sg.fold(p.series) or ""
  local tod, wday = 0, 0
  if list.has_time then
    local t = sg.localtime(p.start)
    tod, wday = t.hour * 3600 + t.min * 60 + t.sec, t.weekday
  end
  for _, e in ipairs(list) do
    local ok, yes = pcall(takes, e, title, series, tod, wday)
    if not ok then
      if not e.failed then -- once, not for every programme
        e.failed = true
        sg.log(("timers: %s: %s"):format(quote(e.text), tostring(yes)))
      end
    elseif yes then
      return { record = true, vo = e.vo, keep = e.keep, rule = e.rule }
    end
  end
  return nil
end

function match(p)
  return match_timers(p) or custom(p)
end
