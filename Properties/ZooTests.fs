/// The zoo models of Examples/zoo: parameter counts and MACs pinned to their published figures, ResNet-18's
/// receptive field, and the printer/parser round trip on every file.
module Receptor.Properties.ZooTests

open System
open System.IO
open Expecto
open Receptor.Dsl
open Receptor.Core

/// How the MACs of a model are pinned.
type private Macs =
    /// Rounded to two decimals in G, as torchvision publishes its "GFLOPS" (one multiply-add counted once).
    | Published of gigas: decimal
    /// Exactly, for models without a published figure.
    | Exact of int64

type private Expected = { File: string; Parameters: int64; Macs: Macs }

let private expected =
    [ { File = "resnet18.rcp"; Parameters = 11_689_512L; Macs = Published 1.81m }
      { File = "resnet50.rcp"; Parameters = 25_557_032L; Macs = Published 4.09m }
      { File = "alexnet.rcp"; Parameters = 61_100_840L; Macs = Published 0.71m }
      { File = "vgg16.rcp"; Parameters = 138_357_544L; Macs = Published 15.47m }
      { File = "mobilenetv2.rcp"; Parameters = 3_504_872L; Macs = Published 0.30m }
      { File = "densenet121.rcp"; Parameters = 7_978_856L; Macs = Published 2.83m }
      // LeNet-5 at 1×32×32, by hand: C1 6·28·28·25 = 117,600; C3 16·10·10·(6·25) = 240,000;
      // C5 120·(16·25) = 48,000; F6 120·84 = 10,080; output 84·10 = 840. Total 416,520.
      { File = "lenet5.rcp"; Parameters = 61_706L; Macs = Exact 416_520L }
      // All-CNN-C at 3×32×32, by hand (outputs × inputs per output):
      //   96·32·32·27 = 2,654,208          96·32·32·864 = 84,934,656       96·16·16·864 = 21,233,664
      //   192·16·16·864 = 42,467,328       192·16·16·1728 = 84,934,656     192·8·8·1728 = 21,233,664
      //   192·6·6·1728 = 11,943,936 (valid) 192·6·6·192 = 1,327,104        10·6·6·192 = 69,120
      // Total 270,798,336.
      { File = "allcnnc.rcp"; Parameters = 1_369_738L; Macs = Exact 270_798_336L }
      // Model C, All-CNN-C's max-pooling base, at 3×32×32, by hand (outputs × inputs per output; pooling adds none):
      //   96·32·32·27 = 2,654,208          96·32·32·864 = 84,934,656       192·16·16·864 = 42,467,328
      //   192·16·16·1728 = 84,934,656      192·6·6·1728 = 11,943,936 (valid) 192·6·6·192 = 1,327,104
      //   10·6·6·192 = 69,120. Total 228,331,008.
      // Parameters: 96·27 + 96 = 2,688; 96·864 + 96 = 83,040; 192·864 + 192 = 166,080; 192·1728 + 192 =
      // 331,968 twice; 192·192 + 192 = 37,056; 10·192 + 10 = 1,930. Total 954,730.
      { File = "allcnnc-pool.rcp"; Parameters = 954_730L; Macs = Exact 228_331_008L }
      // mnist4bn at 1×28×28, by hand (outputs × inputs per output; batch norm, pooling and ReLU add none):
      //   8·28·28·9 = 56,448     32·14·14·72 = 451,584     64·7·7·288 = 903,168     64·7·7·576 = 1,806,336
      //   dense 64·10 = 640. Total 3,218,176.
      // Parameters: convolutions 72 + 2,304 + 18,432 + 36,864, batch norms 2·(8 + 32 + 64 + 64) = 336,
      // dense 650. Total 58,658.
      { File = "mnist4bn.rcp"; Parameters = 58_658L; Macs = Exact 3_218_176L }
      // DenseASPP head on a stride-8 backbone at 3×256×256, by hand. Backbone: 32·27 + 64·288 + 128·576
      // weights and 3 norms (64 + 128 + 256) = 93,472 parameters; 32·128²·27 + 64·64²·288 + 128·32²·576 =
      // 165,150,720 MACs. Dilated layer i on c = 128, 160, 192, 224, 256 channels (Σ 960): 1×1 64c + 64,
      // norm 128, 3×3 32·576 + 32 = 18,464, leading norm 2c from the second on (2·832): 156,384 parameters;
      // 1024·(64·960 + 5·32·576) = 157,286,400 MACs. Classifier 19·288 + 19 = 5,491; 19·288·1024 = 5,603,328.
      { File = "denseaspp.rcp"; Parameters = 255_347L; Macs = Exact 328_040_448L } ]

let private zooFolder = Repository.zooFolder
let private read = Repository.readZoo
let private unwrap result = Repository.unwrap result

let private analyse file = read file ||> Analysis.ofText |> unwrap

let private figures (model: Expected) =
    testCase model.File <| fun () ->
        let report = analyse model.File
        Expect.equal report.Totals.Parameters model.Parameters "parameters"
        Expect.isEmpty report.Misalignments "no misaligned merges"
        match model.Macs with
        | Published gigas ->
            let rounded = Math.Round (decimal report.Totals.Macs / 1e9m, 2, MidpointRounding.AwayFromZero)
            Expect.equal rounded gigas (sprintf "G MACs, rounded (exactly %d)" report.Totals.Macs)
        | Exact macs -> Expect.equal report.Totals.Macs macs "MACs"

let private roundTrip (model: Expected) =
    testCase model.File <| fun () ->
        let path, text = read model.File
        let program = Parser.parseProgram path text |> unwrap
        let printed = Printer.program program
        let reparsed = Parser.parseProgram "<printed>" printed |> unwrap
        Expect.equal reparsed program (sprintf "printed form parses back to the same program:\n%s" printed)

let tests : Test =
    testList "zoo" [
        testCase "every zoo file is pinned" <| fun () ->
            let files =
                Directory.GetFiles (zooFolder (), "*.rcp") |> Array.map Path.GetFileName |> Array.sort |> List.ofArray
            Expect.equal files (expected |> List.map (fun m -> m.File) |> List.sort) "files in Examples/zoo"

        testList "parameters and MACs" (expected |> List.map figures)

        testCase "ResNet-18: theoretical receptive field of layer4's output is 435" <| fun () ->
            let report = analyse "resnet18.rcp"
            let last =
                report.Nodes |> List.filter (fun n -> n.Path = "layer4" || n.Path.StartsWith "layer4/") |> List.last
            match last.Field with
            | Local (h, w) ->
                Expect.equal (h.Size, w.Size) (435.0, 435.0) (sprintf "field size at %s" last.Path)
                Expect.equal (h.Stride, w.Stride) (32.0, 32.0) "field stride"
            | Global -> failtestf "%s has a global field" last.Path

        testList "printed form parses back" (expected |> List.map roundTrip)
    ]
