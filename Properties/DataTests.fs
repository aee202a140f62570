/// Checks of the data sources: IDX files, the MNIST cache layout and the synthetic generators.
module Receptor.Properties.DataTests

open System.IO
open Expecto
open Receptor.Core.Data

let private inTempDirectory f =
    let dir = Directory.CreateTempSubdirectory "receptor-data-test-"
    try f dir.FullName finally dir.Delete true

let private expectError (fragment: string) (path: string) result =
    match result with
    | Ok _ -> failtest $"expected an error mentioning '{fragment}'"
    | Error (message: string) ->
        Expect.stringContains message path "the error names the file"
        Expect.stringContains message fragment "the error says what is wrong"

/// A valid images file in dir whose bytes the test then spoils.
let private writtenImages dir =
    let path = Path.Combine(dir, "images")
    Idx.write path [| 3; 4; 5 |] (Array.init 60 byte)
    path

let private idxTests =
    testList "idx" [
        test "save then load keeps labels, shape and pixels to half a grey level" {
            inTempDirectory (fun dir ->
                let data = Synthetic.blobs 7 50 3 12
                let images, labels = Path.Combine(dir, "i"), Path.Combine(dir, "l")
                Idx.save images labels data
                let back = Idx.load images labels |> Result.defaultWith failtest
                Expect.equal back.Labels data.Labels "labels"
                Expect.equal (back.Count, back.Channels, back.Height, back.Width, back.Classes) (50, 1, 12, 12, 3) "shape"
                let worst = Array.map2 (fun (a: float32) b -> abs (a - b)) back.Images data.Images |> Array.max
                Expect.isLessThanOrEqual worst (0.5f / 255.0f + 1e-6f) "pixels"
                Idx.save images labels back
                Expect.equal (Idx.load images labels |> Result.map _.Images) (Ok back.Images) "a second round trip is exact")
        }
        test "a truncated file is an error naming it" {
            inTempDirectory (fun dir ->
                let path = writtenImages dir
                File.WriteAllBytes(path, (File.ReadAllBytes path)[.. 50])
                Idx.read path 3 |> expectError "truncated" path)
        }
        test "a file shorter than its header is an error naming it" {
            inTempDirectory (fun dir ->
                let path = writtenImages dir
                File.WriteAllBytes(path, (File.ReadAllBytes path)[.. 6])
                Idx.read path 3 |> expectError "too short" path)
        }
        test "a bad magic number is an error naming it" {
            inTempDirectory (fun dir ->
                let path = writtenImages dir
                let bytes = File.ReadAllBytes path
                bytes[2] <- 0x0Duy // float32 data, which this reader does not take
                File.WriteAllBytes(path, bytes)
                Idx.read path 3 |> expectError "bad magic number" path
                Idx.read (writtenImages dir) 1 |> expectError "bad magic number" path)
        }
        test "a missing file is an error naming it" {
            let path = Path.Combine(Path.GetTempPath(), "receptor-no-such-idx")
            Idx.read path 1 |> expectError "no such file" path
        }
        test "images and labels of different counts do not load" {
            inTempDirectory (fun dir ->
                let images, labels = writtenImages dir, Path.Combine(dir, "labels")
                Idx.write labels [| 4 |] [| 0uy; 1uy; 2uy; 3uy |]
                Idx.load images labels |> expectError "4 labels" images)
        }
        test "Mnist.ensure keeps IDX files that are already there" {
            inTempDirectory (fun dir ->
                let files = Mnist.files dir
                Idx.save files.TrainImages files.TrainLabels (Synthetic.blobs 1 30 10 28)
                Idx.save files.TestImages files.TestLabels (Synthetic.blobs 2 10 10 28)
                let before = File.GetLastWriteTimeUtc files.TrainImages
                Expect.equal (Mnist.ensure dir) (Ok files) "no fetch needed"
                Expect.equal (File.GetLastWriteTimeUtc files.TrainImages) before "left untouched"
                let train, test = Mnist.load dir |> Result.defaultWith failtest
                Expect.equal (train.Count, test.Count) (30, 10) "counts")
        }
    ]

let private balanced (data: Dataset) =
    let counts = Dataset.classCounts data
    Array.max counts - Array.min counts <= 1

let private syntheticTests =
    testList "synthetic" [
        test "a seed determines the data" {
            Expect.equal (Synthetic.blobs 3 40 4 16) (Synthetic.blobs 3 40 4 16) "blobs, same seed"
            Expect.notEqual (Synthetic.blobs 3 40 4 16).Images (Synthetic.blobs 4 40 4 16).Images "blobs, other seed"
            Expect.equal (Synthetic.farPair 3 40 32) (Synthetic.farPair 3 40 32) "far pairs, same seed"
            Expect.notEqual (Synthetic.farPair 3 40 32).Images (Synthetic.farPair 4 40 32).Images "far pairs, other seed"
        }
        test "labels are balanced and pixels lie in [0, 1]" {
            for data in [ Synthetic.blobs 5 101 4 16; Synthetic.farPair 5 101 32 ] do
                Expect.isTrue (balanced data) $"class counts %A{Dataset.classCounts data}"
                Expect.isTrue (data.Images |> Array.forall (fun v -> v >= 0.0f && v <= 1.0f)) "range"
                Expect.equal data.Images.Length (data.Count * Dataset.imageSize data) "image array size"
        }
        test "far-pair marks sit near opposite borders" {
            for pair in Synthetic.farPairs 9 500 32 do
                Expect.isLessThanOrEqual pair.LeftCol 3 "left mark near the left border"
                Expect.isGreaterThanOrEqual pair.RightCol 24 "right mark near the right border"
        }
        test "one far-pair mark alone says nothing about the label" {
            let pairs = Synthetic.farPairs 11 4000 32
            for shapeOf in [ (fun (p: Synthetic.FarPair) -> p.LeftShape); (fun p -> p.RightShape) ] do
                for shape in 0 .. Synthetic.marks.Length - 1 do
                    let labels = pairs |> Array.filter (fun p -> shapeOf p = shape) |> Array.map (Synthetic.label >> float)
                    Expect.floatClose { absolute = 0.08; relative = 0.0 } (Array.average labels) 0.5 $"P(same | a mark is shape {shape})"
        }
        test "changing either mark alone flips the label and only that half of the image" {
            let size = 32
            let half (image: float32[]) left = [| for y in 0 .. size - 1 do for x in 0 .. size - 1 do if (x < size / 2) = left then image[y * size + x] |]
            let other shape = (shape + 1) % Synthetic.marks.Length
            for pair in (Synthetic.farPairs 13 20 size |> Array.filter (fun p -> Synthetic.label p = 1)) do
                for changed, leftChanged in [ { pair with RightShape = other pair.RightShape }, false; { pair with LeftShape = other pair.LeftShape }, true ] do
                    let before, after = Synthetic.render size pair, Synthetic.render size changed
                    Expect.equal (Synthetic.label changed) 0 "label flips"
                    Expect.equal (half after (not leftChanged)) (half before (not leftChanged)) "the unchanged half is identical"
                    Expect.notEqual (half after leftChanged) (half before leftChanged) "the changed half differs"
        }
        test "far-pair images are the rendered pairs" {
            let data = Synthetic.farPair 17 30 32
            let pairs = Synthetic.farPairs 17 30 32
            Expect.equal data.Labels (pairs |> Array.map Synthetic.label) "labels"
            Expect.equal (Dataset.image 7 data) (Synthetic.render 32 pairs[7]) "image 7"
        }
    ]

let tests: Test = testList "data" [ idxTests; syntheticTests ]
