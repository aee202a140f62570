/// The HTTP service under load: 50 concurrent clients posting ResNet-50 to /api/analyse for 30 s against a
/// `receptor serve` process (requests per second, p50 and p99 latency, errors, the server's resident memory
/// before and after), beside the same analysis called in this process on as many threads as cores; and the
/// time each abuse case takes to be answered.
module Receptor.Bench.ServiceBench

open System
open System.Diagnostics
open System.IO
open System.Net.Http
open System.Text
open System.Threading
open System.Threading.Tasks

/// VmRSS of a process, in MiB.
let private residentMiB (pid: int) =
    File.ReadAllLines $"/proc/{pid}/status"
    |> Array.find (fun l -> l.StartsWith "VmRSS:")
    |> fun l -> float (l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024.0

let private percentile (sorted: float[]) (p: float) = sorted[min (sorted.Length - 1) (int (p * float sorted.Length))]

let run (clients: int) (seconds: float) =
    let rootDir = InitBench.root ()
    let resnet = File.ReadAllText(Path.Combine(rootDir, "Examples", "zoo", "resnet50.rcp"))
    let port = StoreBench.freePort ()
    let folder = Path.Combine(Path.GetTempPath(), $"receptor-servebench-{Guid.NewGuid():N}")
    let info = ProcessStartInfo("dotnet", UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true)
    for a in [ StoreBench.receptorDll (); "serve"; "--port"; string port; "--folder"; folder ] do
        info.ArgumentList.Add a
    use server = Process.Start info
    server.StandardOutput.ReadLine() |> ignore
    let handler = new SocketsHttpHandler(MaxConnectionsPerServer = clients)
    use client = new HttpClient(handler, BaseAddress = Uri $"http://127.0.0.1:{port}/", Timeout = TimeSpan.FromSeconds 60.0)
    let post () =
        client.PostAsync("/api/analyse", new StringContent(resnet, Encoding.UTF8, "text/plain"))
    // Warm: the first requests compile the analysis.
    for _ in 1 .. 20 do post().Result.EnsureSuccessStatusCode() |> ignore
    let before = residentMiB server.Id
    let latencies = Collections.Concurrent.ConcurrentBag<float>()
    let mutable errors = 0
    let clock = Stopwatch.StartNew()
    let deadline = TimeSpan.FromSeconds seconds
    let worker () =
        task {
            while clock.Elapsed < deadline do
                let sent = clock.Elapsed.TotalMilliseconds
                try
                    use! answer = post ()
                    let! _ = answer.Content.ReadAsStringAsync()
                    if answer.IsSuccessStatusCode then latencies.Add(clock.Elapsed.TotalMilliseconds - sent)
                    else Interlocked.Increment(&errors) |> ignore
                with _ -> Interlocked.Increment(&errors) |> ignore
        }
    Task.WaitAll [| for _ in 1 .. clients -> worker () :> Task |]
    let elapsed = clock.Elapsed.TotalSeconds
    let after = residentMiB server.Id
    let sorted = latencies.ToArray() |> Array.sort
    // The peer: the same analysis in one process, on as many threads as cores, for 10 s.
    let threads = Environment.ProcessorCount
    let local = Stopwatch.StartNew()
    let counts =
        Array.init threads (fun _ ->
            Task.Run(fun () ->
                let mutable n = 0
                while local.Elapsed.TotalSeconds < 10.0 do
                    Receptor.Host.Architecture.Analyze(resnet) |> ignore
                    n <- n + 1
                n))
        |> Array.map (fun t -> t.Result)
    let localRate = float (Array.sum counts) / local.Elapsed.TotalSeconds
    // Abuse: each case five times, the slowest answer.
    // Bodies made once, outside the timing: wrapping a byte array in a request costs nothing.
    let big = Array.create (10 * 1024 * 1024) (byte 'a')
    let deep = Encoding.UTF8.GetBytes("input(1, 8, 8)\nnetwork n = " + String('(', 300_000) + "relu" + String(')', 300_000))
    let cases =
        [ "10 MB body (Expect: 100-continue)", (fun () ->
              let request = new HttpRequestMessage(HttpMethod.Post, "/api/analyse", Content = new ByteArrayContent(big))
              request.Headers.ExpectContinue <- true
              client.SendAsync request)
          "300,000-deep nesting", (fun () -> client.PostAsync("/api/analyse", new ByteArrayContent(deep)))
          "repeat(10^12, …)", (fun () -> client.PostAsync("/api/analyse", new StringContent("input(1, 8, 8)\nnetwork n = repeat(1000000000000, relu)\n")))
          "path outside the study folder", (fun () -> client.GetAsync "/api/studies/..%2F..%2Fetc%2Fpasswd/export")
          "write without the token", (fun () -> client.PostAsync("/api/studies", new StringContent("{}", Encoding.UTF8, "application/json"))) ]
    let abuse =
        cases
        |> List.map (fun (name, send) ->
            let times, codes =
                List.init 5 (fun _ ->
                    let watch = Stopwatch.StartNew()
                    use answer = send().Result
                    watch.Elapsed.TotalMilliseconds, int answer.StatusCode)
                |> List.unzip
            name, List.max times, codes |> List.distinct)
    let normalAfter = post().Result.IsSuccessStatusCode
    server.Kill()
    server.WaitForExit()
    try Directory.Delete(folder, true) with _ -> ()
    let lines = ResizeArray()
    lines.Add "| clients | seconds | requests | requests/s | p50 ms | p99 ms | errors | server RSS before → after (MiB) | in-process analyses/s (threads) | ratio (HTTP / in-process) |"
    lines.Add "|---|---|---|---|---|---|---|---|---|---|"
    lines.Add(
        sprintf "| %d | %.1f | %d | %.1f | %.1f | %.1f | %d | %.0f → %.0f | %.1f (%d) | %.2f |"
            clients elapsed sorted.Length (float sorted.Length / elapsed) (percentile sorted 0.5) (percentile sorted 0.99) errors before after localRate threads
            (float sorted.Length / elapsed / localRate))
    lines.Add ""
    lines.Add "| abuse case | answer | slowest of 5 (ms) |"
    lines.Add "|---|---|---|"
    for name, slowest, codes in abuse do
        lines.Add(sprintf "| %s | %s | %.1f |" name (codes |> List.map string |> String.concat ", ") slowest)
    lines.Add ""
    lines.Add(sprintf "A normal request after the abuse cases: %s." (if normalAfter then "answered 200" else "FAILED"))
    String.concat "\n" lines
