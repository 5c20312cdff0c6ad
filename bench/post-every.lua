-- wrk script of bench/run.sh --interval MS: like post.lua, but each connection waits
-- about MS milliseconds (uniformly 0.5 to 1.5 MS, so clients are not in step) before each
-- request (wrk's delay hook): N connections send about N * 1000 / MS requests a second,
-- many mostly idle keep-alive clients rather than a closed loop.
dofile(os.getenv("BENCH_DIR") .. "/post.lua")
local interval = 1000

function init(args)
    interval = tonumber(args[1]) or interval
    math.randomseed(os.time())
end

function delay()
    return math.random(math.floor(interval / 2), math.floor(interval * 3 / 2))
end
