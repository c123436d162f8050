# drawn by bench/plot; run from /work/main/doc/perf: gnuplot gnuplot/matmul.gp
set terminal pngcairo size 1100,640 font 'DejaVu Sans,11' linewidth 1
set output "matmul.png"
set termoption noenhanced
set title "Seeds 2 and 3: C = A.B by row blocks, values 0..9\nIntel(R) Xeon(R) Processor, 2 CPUs, 2026-11-23; median of 5 rounds, band: fastest to slowest round"
set logscale y
set format y '%.0s%cs'
set ylabel 'time per call (s)'
set grid xtics ytics mxtics mytics lc rgb '#d8d8d8' lw 1, lc rgb '#efefef' lw 1
set key outside right top vertical Left reverse noautotitle spacing 1.2 width 1
set border 3 lc rgb '#404040'
set tics nomirror
set style fill transparent solid 0.15 noborder
set bars small
set xrange [-0.6:4.6]
set xtics ("int64 1000x1000\nn_jobs 2" 0, "int64 1000x1000\nn_jobs 4" 1, "float64 1000x1000\nn_jobs 2" 2, "float64 1000x1000\nn_jobs 4" 3, "float64 2000x2000\nn_jobs 2" 4)
set xtics scale 0
set bmargin 5
set grid noxtics
set xlabel ""
plot "gnuplot/matmul.dat" index 0 using 1:2:3:4 with yerrorbars lc rgb '#0050c8' lw 3 pt 7 ps 1.6 title "jobpool", \
     "gnuplot/matmul.dat" index 1 using 1:2:3:4 with yerrorbars lc rgb '#3f8fff' lw 2 pt 5 ps 1.6 title "jobpool shared", \
     "gnuplot/matmul.dat" index 2 using 1:2:3:4 with yerrorbars lc rgb '#7fb2ff' lw 1.5 pt 13 ps 1.6 title "jobpool fresh", \
     "gnuplot/matmul.dat" index 3 using 1:2:3:4 with yerrorbars lc rgb '#d62020' lw 2.5 pt 11 ps 1.6 title "joblib", \
     "gnuplot/matmul.dat" index 4 using 1:2:3:4 with yerrorbars lc rgb '#ff9900' lw 2.5 pt 13 ps 1.6 title "NumPy", \
     "gnuplot/matmul.dat" index 5 using 1:2:3:4 with yerrorbars lc rgb '#8e3fbf' lw 2.5 pt 15 ps 1.6 title "Pool", \
     "gnuplot/matmul.dat" index 6 using 1:2:3:4 with yerrorbars lc rgb '#606060' lw 1.5 pt 6 ps 1.6 title "C, one core", \
     "gnuplot/matmul.dat" index 7 using 1:2:3:4 with yerrorbars lc rgb '#909090' lw 1.5 pt 8 ps 1.6 title "OpenMP", \
     "gnuplot/matmul.dat" index 8 using 1:2:3:4 with yerrorbars lc rgb '#b0b000' lw 1.5 pt 12 ps 1.6 title "OpenBLAS threads"
